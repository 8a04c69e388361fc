"""What the modules on a start-up path take from :mod:`typing` without importing it.

``typing`` is the largest standard module on the status path (docs/benchmarks.md), so a
module that every command, or a command's fast path, imports keeps it off: its typing names
and type-only imports go under ``if TYPE_CHECKING:``, with this ``TYPE_CHECKING``, false at
run time.  Type checkers read any ``TYPE_CHECKING`` as true (mypy, pyright); ruff is told by
``lint.typing-modules``.  Ruff refuses ``typing`` (and typer, pydantic, jinja2...) at module
level in those modules (TID253), and tests/cli/test_import_paths.py runs each command path under
``-X importtime`` and fails when a module that should stay off it loads.
"""

TYPE_CHECKING = False
