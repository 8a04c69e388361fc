# Fixture modules for these tests.  pytest refuses ``pytest_plugins`` in a conftest below
# the top level, so the fixtures are imported here instead.
from tests.support.user_manager import (  # noqa: F401
    _session_user_manager,
    units_sandbox,
    user_manager,
    user_manager_factory,
)
