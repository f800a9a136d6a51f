import types

fraction = []


def is_available():
    return True


def set_per_process_memory_fraction(value, device=0):
    fraction.append(value)


def get_device_properties(index):
    return types.SimpleNamespace(name="Stand-in GPU", total_memory=24 << 30, major=8, minor=9)
