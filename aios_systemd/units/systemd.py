"""The one adapter over pystemd: the user manager, read in batches, driven by explicit calls.

Nothing else in the package imports pystemd.  The adapter connects to the manager named by
the *context's* ``XDG_RUNTIME_DIR`` (never the process environment), preferring the
manager's private peer-to-peer socket, as ``systemctl --user`` does, and falling back to
the user bus.  Every D-Bus round trip goes through :meth:`UserManager._call`, which counts
it: reading our units costs one ``ListUnitsByNames`` plus one ``GetAll`` per unit of ours
that the manager has loaded, whatever else the manager has loaded.

It uses pystemd's sd-bus binding (``pystemd.dbuslib``, ``pystemd.dbusexc``) and nothing of
its object layer (``SDUnit`` and friends build proxies by parsing introspection XML with
lxml).  pystemd's package ``__init__`` imports that object layer whatever submodule one
asks for, and lxml with it: more than the rest of ``aios-status`` together.  So
:func:`_binding` loads the two binding modules on their own; see there.

It also holds the other places the toolkit asks systemd something: calendar
normalization (``systemd-analyze calendar``) and lingering; and its one call on the
session bus, a desktop notification (:func:`notify_desktop`).
"""

from __future__ import annotations

import contextlib
import errno
import os
import pwd
import re
import stat
import sys
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from types import ModuleType

from aios_systemd._typing import TYPE_CHECKING
from aios_systemd.errors import AiosError, BusUnavailableError, ExitCode, UsageError
from aios_systemd.isotime import iso_from_epoch
from aios_systemd.record import Record

if TYPE_CHECKING:
    from typing import Any

DESTINATION = b"org.freedesktop.systemd1"
MANAGER_PATH = b"/org/freedesktop/systemd1"
MANAGER_IFACE = b"org.freedesktop.systemd1.Manager"
PROPERTIES_IFACE = b"org.freedesktop.DBus.Properties"
JOB_IFACE = b"org.freedesktop.systemd1.Job"
UNIT_IFACE = b"org.freedesktop.systemd1.Unit"
SERVICE_IFACE = b"org.freedesktop.systemd1.Service"
USEC_INFINITY = (1 << 64) - 1
LINGER_DIR = Path("/var/lib/systemd/linger")
ANALYZE = "systemd-analyze"

NOTIFICATIONS = b"org.freedesktop.Notifications"  # the bus name and the interface
NOTIFICATIONS_PATH = b"/org/freedesktop/Notifications"
NOTIFY_TIMEOUT_SECONDS = 5
URGENCY_CRITICAL = 2  # the spec's urgency levels: 0 low, 1 normal, 2 critical (stays until read)

BUS_HINT = (
    "run this as your own user in a session with a systemd user manager "
    "(XDG_RUNTIME_DIR set, e.g. /run/user/$(id -u)); for timers without a login session "
    "run: loginctl enable-linger $USER"
)


class ManagerError(AiosError):
    """The manager answered a call with an error."""


class ManagerFacts(Record):
    version: str
    system_state: str
    units_load_usec: int  # monotonic time of the last (re)load: changes on every daemon-reload
    # The environment the manager hands the services it starts (its own, plus
    # environment.d, set-environment and import-environment): what a timer run sees.
    environment: Mapping[str, str] = {}
    unit_path: tuple[str, ...] = ()  # the directories it reads units from, in order

    @property
    def timezone(self) -> str | None:
        """The zone the manager's calendars are read in: its ``TZ``, else the system's."""
        return self.environment.get("TZ") or None


class LoadedUnit(Record):
    """What the manager has loaded for one unit name.

    ``fragment_path`` and ``drop_in_paths`` are absolute paths: core code compares them,
    reports never carry them.
    """

    name: str
    load_state: str  # loaded, not-found, bad-setting, error, masked
    active_state: str
    sub_state: str
    unit_file_state: str = ""  # from the unit files on disk (GetUnitFileState), not the cache
    fragment_path: str = ""
    drop_in_paths: tuple[str, ...] = ()
    need_daemon_reload: bool = False
    calendars: tuple[str, ...] = ()  # OnCalendar= as the manager normalized them (timers)
    next_elapse_usec: int | None = None  # realtime µs; None when not scheduled
    last_trigger_usec: int | None = None
    result: str = ""  # the timer's Result; a service's only when it failed (see units)
    # Why a failed service's main process ended (only read when the service failed):
    # exec_main_code is CLD_EXITED (1), CLD_KILLED (2) or CLD_DUMPED (3), and
    # exec_main_status the exit status (200 CHDIR, 203 EXEC...) or the signal.
    exec_main_code: int | None = None
    exec_main_status: int | None = None
    exec_main_exit_usec: int | None = None
    # The unit's latest invocation (InvocationID, as hex): each start gets a new one, and a
    # failed unit keeps the one that failed.  "" when the manager has none.
    invocation_id: str = ""
    # The settings that decide what the unit does (effective.SETTINGS), as the manager
    # has them in effect: read only for a unit with drop-ins, to judge what they change.
    properties: Mapping[str, Any] | None = None

    @property
    def loaded(self) -> bool:
        return self.load_state == "loaded"


def usec_to_iso(usec: int | None) -> str | None:
    """An ISO-8601 UTC timestamp for a realtime µs value; ``None`` for unset/infinity."""
    if not usec or usec == USEC_INFINITY:
        return None
    return iso_from_epoch(usec / 1_000_000, "seconds")


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _usec(value: Any) -> int | None:
    if not isinstance(value, int) or value in (0, USEC_INFINITY):
        return None
    return value


def _socket(path: Path) -> bool:
    try:
        return stat.S_ISSOCK(path.stat().st_mode)
    except OSError:
        return False


def bus_addresses(env: Mapping[str, str]) -> list[tuple[bytes, bool]]:
    """Where the user manager answers, best first, as ``(address, peer_to_peer)``.

    Raises :class:`BusUnavailableError` when no candidate exists, before any connection.
    """
    runtime = env.get("XDG_RUNTIME_DIR", "")
    if not runtime:
        raise BusUnavailableError("the systemd user bus is unreachable: XDG_RUNTIME_DIR is not set", BUS_HINT)
    if not runtime.startswith("/"):
        raise BusUnavailableError(
            "the systemd user bus is unreachable: XDG_RUNTIME_DIR is not an absolute path", BUS_HINT
        )
    out: list[tuple[bytes, bool]] = []
    private = Path(runtime) / "systemd" / "private"
    if _socket(private):
        # The manager's own socket: no dbus-daemon hop, and no daemon needed at all.
        out.append((b"unix:path=" + os.fsencode(private), True))
    bus = Path(runtime) / "bus"
    if _socket(bus):
        out.append((b"unix:path=" + os.fsencode(bus), False))
    if not out:
        raise BusUnavailableError(
            "the systemd user bus is unreachable: no user manager socket in XDG_RUNTIME_DIR", BUS_HINT
        )
    return out


def _dbus_error(exc: Exception) -> tuple[str, str]:
    """(error kind, message) of a pystemd DBusError; the kind is its class name."""
    return type(exc).__name__, _text(getattr(exc, "err_message", "") or exc)


# pystemd error classes (and errno values without a D-Bus error name) meaning the
# manager is gone rather than that it refused the call.
_GONE = frozenset(
    {
        "DBusNoReplyError",
        "DBusDisconnectedError",
        "DBusServiceUnknownError",
        "DBusNameHasNoOwnerError",
        "DBusConnectionRefusedError",
        "DBusTimeoutError",
        "DBusTimedOutError",
        "DBusIOErrorError",
    }
)
_GONE_ERRNO = frozenset(
    {-errno.ECONNRESET, -errno.ENOTCONN, -errno.EPIPE, -errno.ECONNREFUSED, -errno.ETIMEDOUT, -errno.ENOENT}
)


def _gone(exc: Exception) -> bool:
    if type(exc).__name__ in _GONE:
        return True
    return type(exc).__name__ == "DBusBaseError" and getattr(exc, "errno", None) in _GONE_ERRNO


def _binding() -> tuple[ModuleType, ModuleType]:
    """``(pystemd.dbuslib, pystemd.dbusexc)``, without running pystemd's ``__init__`` first.

    The package module is created from its spec but not executed; the two binding modules
    load into it (their own imports are ``pystemd.dbusexc`` and ``pystemd.utils``, nothing
    of the object layer).  The package completes itself on first use of anything else:
    its module ``__getattr__`` (PEP 562) runs the real ``__init__`` then, so any later user
    of pystemd in this process (``from pystemd import DBus``, ``pystemd.SDUnit``) sees the
    whole package, over the same binding classes."""
    if "pystemd" not in sys.modules:
        import importlib.util

        spec = importlib.util.find_spec("pystemd")  # a dependency: every build has it
        assert spec is not None and spec.loader is not None
        package = importlib.util.module_from_spec(spec)
        loader = spec.loader

        def complete(name: str) -> Any:
            del package.__dict__["__getattr__"]
            loader.exec_module(package)
            try:
                return package.__dict__[name]
            except KeyError:
                raise AttributeError(f"module 'pystemd' has no attribute {name!r}") from None

        package.__dict__["__getattr__"] = complete
        sys.modules["pystemd"] = package
    import pystemd.dbusexc
    import pystemd.dbuslib

    return pystemd.dbuslib, pystemd.dbusexc


class UserManager:
    """A connection to one ``systemd --user`` manager.  Use as a context manager."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._addresses = bus_addresses(env)
        self._bus: Any = None
        self.calls = 0  # D-Bus round trips made: tests and the benchmark read it

    # -- connection ----------------------------------------------------------------
    def open(self) -> UserManager:
        dbuslib, dbusexc = _binding()
        last = ""
        for address, p2p in self._addresses:
            bus = dbuslib.DBusAddress(address, p2p)
            try:
                bus.open()
            except dbusexc.DBusBaseError as exc:
                last = _dbus_error(exc)[1]
                continue
            self._bus = bus
            return self
        raise BusUnavailableError(
            "the systemd user bus is unreachable: could not connect to the user manager"
            + (f" ({_safe_reason(last)})" if last else ""),
            BUS_HINT,
        )

    def close(self) -> None:
        if self._bus is not None:
            bus, self._bus = self._bus, None
            # Closing a dead bus must not mask the error that killed it.
            with contextlib.suppress(Exception):
                bus.close()

    def __enter__(self) -> UserManager:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(
        self,
        method: bytes,
        signature: bytes = b"",
        *args: Any,
        path: bytes = MANAGER_PATH,
        interface: bytes = MANAGER_IFACE,
    ) -> Any:
        dbuslib, dbusexc = _binding()
        if self._bus is None:
            self.open()
        self.calls += 1
        try:
            return self._bus.call_method(
                DESTINATION, path, interface, method, dbuslib.apply_signature(signature, list(args))
            ).body
        except dbusexc.DBusBaseError as exc:
            if _gone(exc):
                raise BusUnavailableError(
                    "the systemd user manager stopped answering", "check that it still runs, then rerun"
                ) from None
            raise ManagerError(
                f"the user manager refused {method.decode()}: {_safe_reason(_dbus_error(exc)[1])}",
                "run 'aios-units doctor' and check the unit files",
                exit_code=ExitCode.FAILED,
            ) from None

    # -- reads ---------------------------------------------------------------------
    def facts(self) -> ManagerFacts:
        props = self._call(b"GetAll", b"s", MANAGER_IFACE, interface=PROPERTIES_IFACE)
        environment = {}
        for entry in props.get(b"Environment", []) or []:
            name, sep, value = _text(entry).partition("=")
            if sep:
                environment[name] = value
        return ManagerFacts(
            version=_text(props.get(b"Version", b"")),
            system_state=_text(props.get(b"SystemState", b"")),
            units_load_usec=int(props.get(b"UnitsLoadTimestampMonotonic", 0) or 0),
            environment=environment,
            unit_path=tuple(_text(p) for p in props.get(b"UnitPath", []) or []),
        )

    def units(self, names: Sequence[str]) -> dict[str, LoadedUnit]:
        """Everything about ``names`` in 1 + (units of ours the manager knows) calls, plus
        one per timer (its enablement as the files on disk say) and one per service that
        failed or has drop-ins (its Service interface): never a number that grows with
        other units."""
        if not names:
            return {}
        rows = self._call(b"ListUnitsByNames", b"as", [n.encode() for n in names])
        out: dict[str, LoadedUnit] = {}
        for row in rows:
            name, load_state, active, sub, object_path = (
                _text(row[0]),
                _text(row[2]),
                _text(row[3]),
                _text(row[4]),
                row[6],
            )
            if load_state == "not-found":
                # Nothing on disk and nothing loaded: a GetAll would only repeat that.
                out[name] = LoadedUnit(name, load_state, active, sub)
                continue
            # One GetAll per unit rather than one Get per property.  A timer's is over
            # every interface (Unit and Timer: its calendars and elapse times); a
            # service's over the Unit interface only, because the Service interface's
            # ~300 properties include cgroup accounting the manager computes on each read
            # (twice the cost of the Unit interface here) and drift needs none of them.
            props = self._call(
                b"GetAll",
                b"s",
                b"" if name.endswith(".timer") else UNIT_IFACE,
                path=object_path,
                interface=PROPERTIES_IFACE,
            )
            unit = _loaded_unit(name, load_state, active, sub, props)
            if name.endswith(".timer"):
                # The cached UnitFileState keeps saying "enabled" after `systemctl --user
                # disable` until a reload; the files on disk decide what the next manager
                # start does.
                unit = unit._replace(
                    unit_file_state=self.unit_file_state(name), properties=_settings(props, "timer", unit)
                )
            elif active == "failed" or unit.drop_in_paths:
                service = self._call(b"GetAll", b"s", SERVICE_IFACE, path=object_path, interface=PROPERTIES_IFACE)
                unit = unit._replace(properties=_settings(service, "service", unit))
                if active == "failed":
                    unit = _failure(unit, service)
            out[name] = unit
        return out

    def unit_file_state(self, name: str) -> str:
        """A unit's enablement read from the unit files on disk (``GetUnitFileState``)."""
        try:
            return _text(self._call(b"GetUnitFileState", b"s", name.encode()))
        except ManagerError:
            return ""  # no unit file at all: the manager refuses to say

    def unit(self, name: str) -> LoadedUnit:
        return self.units([name])[name]

    # -- changes -------------------------------------------------------------------
    def reload(self) -> None:
        """daemon-reload; the manager answers once the reload has finished."""
        self._call(b"Reload")

    def enable(self, names: Iterable[str]) -> None:
        self._call(b"EnableUnitFiles", b"asbb", [n.encode() for n in names], False, True)

    def disable(self, names: Iterable[str]) -> None:
        self._call(b"DisableUnitFiles", b"asb", [n.encode() for n in names], False)

    def start(self, name: str) -> str:
        """Queue a start job; returns the job's object path (see :meth:`wait_job`)."""
        return _text(self._call(b"StartUnit", b"ss", name.encode(), b"replace"))

    def stop(self, name: str) -> str:
        return _text(self._call(b"StopUnit", b"ss", name.encode(), b"replace"))

    def clean_state(self, name: str, timeout: float = 10.0) -> None:
        """Remove a unit's state (a timer's ``Persistent=`` stamp), as ``systemctl --user
        clean --what=state`` does; the unit must be inactive.  Waits for the cleaning."""
        self._call(b"CleanUnit", b"sas", name.encode(), [b"state"])
        deadline = time.monotonic() + timeout
        while self.unit(name).active_state == "maintenance" and time.monotonic() < deadline:
            time.sleep(0.02)

    def reset_failed(self, name: str) -> bool:
        """Clear a unit's failed state; ``False`` when the manager does not know the unit."""
        try:
            self._call(b"ResetFailedUnit", b"s", name.encode())
        except ManagerError:
            return False
        return True

    def wait_job(self, job_path: str, timeout: float = 30.0) -> None:
        """Wait until a queued job is done (its object disappears)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._call(b"Get", b"ss", JOB_IFACE, b"State", path=job_path.encode(), interface=PROPERTIES_IFACE)
            except ManagerError:
                return  # UnknownObject: the job finished and was collected
            if time.monotonic() > deadline:
                raise AiosError("a systemd job did not finish in time", "check 'systemctl --user list-jobs'")
            time.sleep(0.02)


def _failure(unit: LoadedUnit, service: Mapping[bytes, Any]) -> LoadedUnit:
    """A failed service with its ``Result`` and how its main process ended."""
    code, status = service.get(b"ExecMainCode"), service.get(b"ExecMainStatus")
    return unit._replace(
        result=_text(service.get(b"Result", b"")),
        exec_main_code=code if isinstance(code, int) else None,
        exec_main_status=status if isinstance(status, int) else None,
        exec_main_exit_usec=_usec(service.get(b"ExecMainExitTimestamp")),
    )


def _settings(props: Mapping[bytes, Any], kind: str, unit: LoadedUnit) -> dict[str, Any] | None:
    """The effective settings of a unit with drop-ins (``None`` without: the file says it all)."""
    if not unit.drop_in_paths:
        return None
    from aios_systemd.units.effective import PROPERTIES

    return {name: props[name.encode()] for name in PROPERTIES[kind] if name.encode() in props}


def _loaded_unit(name: str, load_state: str, active: str, sub: str, props: Mapping[bytes, Any]) -> LoadedUnit:
    calendars = tuple(
        _text(entry[1]) for entry in props.get(b"TimersCalendar", []) or [] if _text(entry[0]) == "OnCalendar"
    )
    return LoadedUnit(
        name=name,
        load_state=load_state,
        active_state=active,
        sub_state=sub,
        unit_file_state=_text(props.get(b"UnitFileState", b"")),
        fragment_path=_text(props.get(b"FragmentPath", b"")),
        drop_in_paths=tuple(_text(p) for p in props.get(b"DropInPaths", []) or []),
        need_daemon_reload=bool(props.get(b"NeedDaemonReload", False)),
        calendars=calendars,
        next_elapse_usec=_usec(props.get(b"NextElapseUSecRealtime")),
        last_trigger_usec=_usec(props.get(b"LastTriggerUSec")),
        result=_text(props.get(b"Result", b"")),
        invocation_id=_invocation_id(props.get(b"InvocationID")),
    )


def _invocation_id(value: Any) -> str:
    """``InvocationID`` (D-Bus ``ay``: 16 bytes, all zero when unset) as systemd prints it."""
    try:
        raw = bytes(value or b"")
    except (TypeError, ValueError):
        return ""
    return raw.hex() if len(raw) == 16 and any(raw) else ""


_PATHLIKE = re.compile(r"/\S+")


def _safe_reason(message: str) -> str:
    # Manager messages may name unit file paths; keep the reason, drop the paths.
    return _PATHLIKE.sub("<path>", message)[:200]


# -- calendars -------------------------------------------------------------------------
class CalendarInfo(Record):
    expression: str
    normalized: str
    next_elapses: tuple[str, ...]  # ISO-8601 UTC ("2026-11-26T06:00:00Z")


_ANALYZE_TIME = re.compile(r"\w{3} (\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}) UTC")


def analyze_calendars(
    expressions: Sequence[str],
    env: Mapping[str, str],
    *,
    iterations: int = 1,
    cwd: Path | None = None,
    timezone: str | None = None,
    base_time: float | None = None,
) -> tuple[CalendarInfo, ...]:
    """Normalize calendar expressions with ``systemd-analyze calendar`` (one process for all).

    Elapses are computed in ``timezone`` (the manager's; ``None``: the system's, never the
    caller's ``TZ``: a shell in Asia/Tokyo must not move a timer the manager fires in UTC)
    and returned in UTC; with ``base_time`` (epoch seconds) they are the elapses after it
    rather than after now."""
    if not expressions:
        return ()
    from aios_systemd import proc  # only on a cache miss

    child_env = {k: v for k, v in proc.clean_env(env).items() if k != "TZ"}
    if timezone:
        child_env["TZ"] = timezone
    base = [f"--base-time=@{int(base_time)}"] if base_time is not None else []
    result = proc.run(
        [ANALYZE, "calendar", f"--iterations={max(1, iterations)}", *base, "--", *expressions],
        cwd=cwd or Path("/"),
        env=child_env,
        timeout=30,
        check=False,
    )
    if result.returncode != 0:
        raise UsageError(
            "a calendar expression was refused by systemd-analyze",
            "use a reviewed cadence id in data/ai-os.scheduler.json",
        )
    blocks = [b for b in result.stdout.decode("utf-8", "replace").split("\n\n") if b.strip()]
    infos: list[CalendarInfo] = []
    for expr, block in zip(expressions, blocks, strict=False):
        normalized, elapses = "", []
        for line in block.splitlines():
            key, _, value = line.strip().partition(": ")
            if key == "Normalized form":
                normalized = value.strip()
            elif key == "Next elapse" or key.startswith("Iter. #"):
                elapses.append(value.strip())  # local time; the "(in UTC)" line follows unless local is UTC
            elif key == "(in UTC)" and elapses:
                elapses[-1] = value.strip()
        elapses = [_iso_utc(e) for e in elapses]
        infos.append(CalendarInfo(expr, normalized, tuple(elapses)))
    if len(infos) != len(expressions) or not all(i.normalized for i in infos):
        raise AiosError(
            "could not read the output of systemd-analyze calendar",
            "check that systemd-analyze works: systemd-analyze calendar hourly",
        )
    return tuple(infos)


def _iso_utc(text: str) -> str:
    """``Wed 2026-12-02 06:00:00 UTC`` as ``2026-12-02T06:00:00Z`` (other text unchanged)."""
    match = _ANALYZE_TIME.fullmatch(text)
    return f"{match.group(1)}T{match.group(2)}Z" if match else text


def analyzer_identity() -> str:
    """What decides ``systemd-analyze calendar``'s answers: the binary on PATH, by identity.

    A walk of the fixed PATH rather than ``shutil.which``: status asks on every call and
    importing shutil costs more than the walk."""
    from aios_systemd.proc import CLEAN_PATH

    for directory in CLEAN_PATH.split(os.pathsep):
        found = os.path.join(directory, ANALYZE)
        try:
            st = os.stat(found)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode) and os.access(found, os.X_OK):
            return f"{found}:{st.st_size}:{st.st_mtime_ns}:{st.st_ino}"
    return "missing"


def normalize_calendars(expressions: Sequence[str], env: Mapping[str, str]) -> tuple[str, ...]:
    return tuple(i.normalized for i in analyze_calendars(expressions, env))


# -- lingering -------------------------------------------------------------------------
def user_name(uid: int | None = None) -> str | None:
    try:
        return pwd.getpwuid(os.getuid() if uid is None else uid).pw_name
    except KeyError:
        return None


def lingering(uid: int | None = None, linger_dir: Path = LINGER_DIR) -> bool:
    """Whether logind keeps this user's manager running without a login session."""
    name = user_name(uid)
    return bool(name) and (linger_dir / str(name)).exists()


# -- desktop notifications -------------------------------------------------------------
def session_bus_address(env: Mapping[str, str]) -> bytes | None:
    """The user's session bus as sd-bus finds it: ``DBUS_SESSION_BUS_ADDRESS``, else
    ``$XDG_RUNTIME_DIR/bus`` when that socket exists; ``None`` when there is none."""
    address = env.get("DBUS_SESSION_BUS_ADDRESS", "")
    if address:
        return os.fsencode(address)
    runtime = env.get("XDG_RUNTIME_DIR", "")
    bus = Path(runtime) / "bus"
    if runtime.startswith("/") and _socket(bus):
        return b"unix:path=" + os.fsencode(bus)
    return None


@contextlib.contextmanager
def _method_timeout(seconds: int) -> Iterator[None]:
    """sd-bus's wait for a reply is 25 s unless ``SYSTEMD_BUS_TIMEOUT`` says otherwise (read
    by libsystemd on a bus's first call; pystemd offers no other way to set it)."""
    old = os.environ.get("SYSTEMD_BUS_TIMEOUT")
    os.environ["SYSTEMD_BUS_TIMEOUT"] = f"{seconds}s"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("SYSTEMD_BUS_TIMEOUT", None)
        else:
            os.environ["SYSTEMD_BUS_TIMEOUT"] = old


def _notify_args(app: str, summary: str, body: str) -> list[tuple[int, Any]]:
    """``Notify``'s arguments (``susssasa{sv}i``) as pystemd's message builder takes them:
    written out, because its signature compiler has no dict entries."""

    def text(value: str) -> tuple[int, bytes]:
        return ord("s"), value.encode("utf-8", "replace")

    close = (-1, None)
    return [
        text(app),
        (ord("u"), 0),  # replaces no earlier notification
        text("dialog-error"),
        text(summary),
        text(body),
        (ord("a"), b"s"),  # no actions
        close,
        (ord("a"), b"{sv}"),  # hints: urgency critical
        (ord("e"), b"sv"),
        text("urgency"),
        (ord("v"), b"y"),
        (ord("y"), URGENCY_CRITICAL),
        close,
        close,
        close,
        (ord("i"), -1),  # the server's own expiry
    ]


def notify_desktop(
    env: Mapping[str, str], summary: str, body: str, *, timeout: int = NOTIFY_TIMEOUT_SECONDS
) -> str | None:
    """Show a desktop notification (``org.freedesktop.Notifications.Notify`` on the session
    bus).  ``None`` when a server took it, else why not, in words safe to print.  Never
    raises: a machine without a desktop has no server, and that is no error."""
    address = session_bus_address(env)
    if address is None:
        return "there is no session bus (DBUS_SESSION_BUS_ADDRESS is unset and there is no $XDG_RUNTIME_DIR/bus)"
    dbuslib, dbusexc = _binding()
    bus = dbuslib.DBusAddress(address, False)
    with _method_timeout(timeout):
        try:
            bus.open()
        except dbusexc.DBusBaseError:
            return "the session bus did not answer"
        try:
            bus.call_method(
                NOTIFICATIONS, NOTIFICATIONS_PATH, NOTIFICATIONS, b"Notify", _notify_args("aios-systemd", summary, body)
            )
        except dbusexc.DBusBaseError as exc:
            kind = type(exc).__name__
            if kind in ("DBusTimeoutError", "DBusTimedOutError"):
                return f"the notification server did not answer within {timeout}s"
            if _gone(exc):
                return "no notification server answers on the session bus"
            return f"the notification server refused it: {_safe_reason(_dbus_error(exc)[1])}"
        finally:
            with contextlib.suppress(Exception):
                bus.close()
    return None
