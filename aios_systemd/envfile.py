"""Read a project's ``.env.local`` as dotenv and Vite do, without ever echoing a value.

The parsing is python-dotenv's own (``dotenv.parser``): ``export`` prefixes, single and
double quotes, escapes in double quotes, values over several lines, inline comments after
whitespace, lines it cannot parse skipped.  Variables are not expanded (``${X}`` stays as
written): a setting this toolkit reads never needs it, and expansion would pull values from
whatever environment happens to run the job.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path
from types import ModuleType

from . import fsio

MAX_ENV_FILE = 256 * 1024


def _dotenv_parser() -> ModuleType:
    """``dotenv.parser``, loaded on its own when the ``dotenv`` package is not imported yet.

    The package's ``__init__`` imports its whole API (``load_dotenv`` and friends pull in
    ``logging``, ``tempfile`` and ``shutil``: about 13 ms) before any submodule; the parser
    itself needs only ``codecs``, ``re`` and ``typing``, and ``.env.local`` is read on every
    command's start-up path.  Registered under its own name, so a later ``import dotenv``
    in this process completes the package around this same module."""
    module = sys.modules.get("dotenv.parser")
    if module is not None:
        return module
    import importlib.util

    spec = importlib.util.find_spec("dotenv")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("python-dotenv is not installed (a dependency of aios-systemd)")
    location = Path(spec.submodule_search_locations[0]) / "parser.py"
    parser_spec = importlib.util.spec_from_file_location("dotenv.parser", location)
    if parser_spec is None or parser_spec.loader is None:
        raise ImportError("python-dotenv has no parser module")
    module = importlib.util.module_from_spec(parser_spec)
    sys.modules["dotenv.parser"] = module
    try:
        parser_spec.loader.exec_module(module)
    except BaseException:
        del sys.modules["dotenv.parser"]
        raise
    return module


def parse(text: str) -> dict[str, str]:
    """The variables ``text`` assigns, later assignments winning, as dotenv reads them."""
    out: dict[str, str] = {}
    for binding in _dotenv_parser().parse_stream(io.StringIO(text)):
        if binding.key is not None and binding.value is not None:
            out[binding.key] = binding.value
    return out


def load(path: Path, problems: list[str] | None = None) -> dict[str, str]:
    """The variables in ``path``; empty when it is missing or unreadable (never raises).
    A file that is refused (another user's, one others can write, a symlink) is ignored,
    and ``problems`` receives why."""
    try:
        data = fsio.read_bytes(path, ".env.local", MAX_ENV_FILE, trusted=True)
    except Exception as exc:  # noqa: BLE001 - an unreadable .env.local means "nothing configured"
        if problems is not None:
            problems.append(fsio.ignored_warning(exc, ".env.local"))
        return {}
    if data is None:
        return {}
    return parse(data.decode("utf-8", errors="replace"))
