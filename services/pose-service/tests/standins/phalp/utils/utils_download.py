import sys


def _progress_bar(count, total):
    """Upstream's download bar: redrawn with a trailing carriage return, newline at the end."""
    bar_len = 60
    filled_len = int(round(bar_len * count / float(total)))
    percents = round(100.0 * count / float(total), 1)
    bar = "=" * filled_len + "-" * (bar_len - filled_len)
    sys.stdout.write("  [{}] {}% of {:.1f}MB file  \r".format(bar, percents, total / 1024 / 1024))
    sys.stdout.flush()
    if count >= total:
        sys.stdout.write("\n")
