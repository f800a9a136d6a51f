"""Docker healthcheck: `python -m pose_service.healthcheck` exits 0 when /health says so.

When it is not ready it prints one readable line first (`downloading: weights 42%`), which
`devstack up` shows on the service's progress line, then the /health body for the record."""

import json
import os
import sys
import urllib.error
import urllib.request


def summary(body: str) -> str:
    """`state: detail` (or `error: …; fix: …`) of a /health body; the body itself if it is
    not the service's JSON."""
    try:
        snap = json.loads(body)
        state = snap["state"]
    except (ValueError, KeyError, TypeError):
        return body.strip().splitlines()[0] if body.strip() else "no /health body"
    if snap.get("error"):
        fix = f"; fix: {snap['fix']}" if snap.get("fix") else ""
        return f"{state}: {snap['error']}{fix}"
    return f"{state}: {snap['detail']}" if snap.get("detail") else state


def main() -> int:
    url = f"http://127.0.0.1:{os.environ.get('HTTP_PORT', '8000')}/health"
    try:
        with urllib.request.urlopen(url, timeout=2) as res:
            return 0 if res.status == 200 else 1
    except urllib.error.HTTPError as err:
        body = err.read().decode(errors="replace")
        print(summary(body))
        print(body[:500])
        return 1
    except OSError as err:
        print(f"pose-service does not answer on {url}: {err}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
