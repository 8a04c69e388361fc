"""A real interactive shell on a pseudo-terminal, for what only a line editor does: which
completion function runs on a Tab, and what it inserts (quoted, with or without a space).

:meth:`Terminal.tab` types a line, presses Tab once, then turns the completed line into
``printf`` arguments (Ctrl-A, then the prefix) and runs it, so the words the shell would
have run come back one per line, however the line editor drew them.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import struct
import termios
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

PROMPT = "READY> "
_ARG = re.compile(rb"ARG<(.*?)>\r?\n")


class Terminal:
    def __init__(self, argv: Sequence[str], env: Mapping[str, str], cwd: Path, timeout: float = 20) -> None:
        self.timeout = timeout
        self._count = 0
        pid, fd = pty.fork()
        if pid == 0:  # the child: the shell, with the terminal as its stdin, stdout and stderr
            try:
                os.chdir(cwd)
                os.execvpe(argv[0], list(argv), dict(env))
            finally:
                os._exit(127)
        self.pid, self.fd = pid, fd
        # Wide enough that no line editor scrolls or wraps the lines typed here.
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 400, 0, 0))
        self.output = b""

    def __enter__(self) -> Terminal:
        return self

    def __exit__(self, *exc: object) -> None:
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        os.close(self.fd)

    def expect(self, pattern: bytes) -> bytes:
        """Read until ``pattern`` appears in what was read since the last match."""
        start = len(self.output)
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if re.search(pattern, self.output[start:]):
                return self.output[start:]
            ready, _, _ = select.select([self.fd], [], [], 0.1)
            if ready:
                try:
                    self.output += os.read(self.fd, 65536)
                except OSError:  # the shell is gone
                    break
        raise AssertionError(f"no {pattern!r} from the shell; it printed: {self.output[start:]!r}")

    def run(self, command: str) -> bytes:
        """Run ``command`` and return what it printed (with the echo of the line)."""
        self._count += 1
        # The quotes keep the marker out of the echoed line: only printf's output matches.
        os.write(self.fd, f"{command}; printf '%s\\n' EN''D{self._count}\n".encode())
        return self.expect(rf"\nEND{self._count}\r?\n".encode())

    def tab(self, typed: str) -> list[str]:
        """The words of the line after typing ``typed`` and one Tab."""
        self._count += 1
        marker = f"EN''D{self._count}"
        os.write(self.fd, typed.encode() + b"\t" + b"\x01printf 'ARG<%s>\\n' \x05; printf '%s\\n' " + marker.encode())
        os.write(self.fd, b"\n")
        out = self.expect(rf"\nEND{self._count}\r?\n".encode())
        return [m.decode() for m in _ARG.findall(out) if m != b"%s"]
