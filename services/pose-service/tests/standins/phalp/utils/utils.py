import sys


def progress_bar(sequence, total=None, description=None, disable=False):
    """Upstream draws a rich Progress bar on the console (stdout); this draws a plain one."""
    total = total or 0
    for i, item in enumerate(sequence, 1):
        yield item
        sys.stdout.write(f"\r{description} " + "━" * i + f" {i}/{total}")
        sys.stdout.flush()
    sys.stdout.write("\n")
