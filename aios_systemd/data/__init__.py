"""The generated data artifact: its schema, the scoped writer, collectors and orchestration.

Nothing here is imported by the CLIs at start; pydantic loads only on the paths that
validate or write the artifact.  The artifact's version, members and limits are defined
here, once, for the schema (pydantic) and for the writer and readers that must not load it.
"""

from __future__ import annotations

from .._typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Final

SCHEMA_VERSION: Final = 1  # the artifact's schemaVersion; a release that adds a member bumps it
HOST_LOCAL_BRANCHES = ("host", "scheduler", "agents", "dream")  # the root branches collectors write
MAX_EXTENSIONS = 32  # extension items the artifact may hold
MAX_LIVE_DATA_BYTES = 256 << 20  # a larger file is not read
LIVE_DATA_LABEL = "the generated data file"  # how errors name it
