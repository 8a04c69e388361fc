"""A writer in its own process, for the crash and concurrency tests.

usage: python -m tests.data.writer_child PROJECT MODE COUNT
MODE is ``host`` (host-local writes), ``item`` (extension-item writes for ``demo-ext``) or
``full``; each write carries its sequence number so the test can tell which write landed.
Prints one line per landed write: ``<mode> <n>``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from aios_systemd.context import Context
from aios_systemd.data.writer import write_live_data_for_scope
from aios_systemd.registry import ScopeKind, WriteScope
from tests.data.support import example, host_branch, item


def main(argv: list[str]) -> int:
    project, mode, count = Path(argv[0]), argv[1], int(argv[2])
    ctx = Context.from_environ(project_root=project)
    padding = ["padding text " * 8] * int(argv[3]) if len(argv) > 3 else []
    for n in range(count):
        if mode == "host":
            scope, branch = WriteScope(ScopeKind.HOST_LOCAL), host_branch(kernel=f"6.1.{n}-test")
        elif mode == "item":
            scope, branch = WriteScope(ScopeKind.EXTENSION_ITEM, "demo-ext"), item(n) | {"padding": padding}
        else:
            doc = example()
            doc["host"]["kernel"] = f"6.1.{n}-full"
            doc["extensions"]["items"]["demo-ext"] = item(n) | {"padding": padding}
            scope, branch = WriteScope(ScopeKind.FULL), doc
        result = write_live_data_for_scope(ctx, scope, branch, lock_timeout=30)
        if result.outcome != "written":
            print(f"{mode} failed {result.outcome} {result.rule}", flush=True)
            return 1
        print(f"{mode} {n}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
