"""Docker healthcheck: `python -m pose_service.healthcheck` exits 0 when /health says so."""

import os
import sys
import urllib.error
import urllib.request


def main() -> int:
    url = f"http://127.0.0.1:{os.environ.get('HTTP_PORT', '8000')}/health"
    try:
        with urllib.request.urlopen(url, timeout=2) as res:
            return 0 if res.status == 200 else 1
    except urllib.error.HTTPError as err:
        print(err.read().decode(errors="replace")[:500])
        return 1
    except OSError as err:
        print(f"pose-service does not answer on {url}: {err}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
