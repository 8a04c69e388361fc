from tests.support.safe_dirs import safe_dir  # noqa: F401
from tests.support.user_manager import _session_user_manager, units_sandbox, user_manager  # noqa: F401
