"""What the stand-in libraries saw, in order: (what, value) pairs."""

events: list = []


def event(what, value=None):
    events.append((what, value))


def values(what):
    return [v for w, v in events if w == what]
