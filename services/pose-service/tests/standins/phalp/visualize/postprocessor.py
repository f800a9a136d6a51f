from phalp.utils.utils import progress_bar  # noqa: F401  (by name, as upstream)


class Postprocessor:
    pass
