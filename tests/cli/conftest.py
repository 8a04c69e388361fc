from tests.support.safe_dirs import safe_dir  # noqa: F401
