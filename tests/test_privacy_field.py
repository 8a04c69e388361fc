"""Privacy that is precise, as properties over generated environments.

* Plausible settings (the words real sessions and Vite projects set: the OS id as the user
  name, session names, log levels, views, ids) never fail or degrade the main job.
* Generated secrets of each kind (by name, by form, a URL's password, a multi-line value)
  never appear in what the toolkit shows or writes.
"""

from __future__ import annotations

import json
import re
import string
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aios_systemd import privacy as P
from aios_systemd.data.collectors.host import os_info
from aios_systemd.data.orchestration import aggregate_host_local
from aios_systemd.registry import REGISTRY, ScopeKind, WriteScope
from aios_systemd.runlog import RunLog
from tests.data.support import item, make_ctx

# Words that ordinary data is made of on this machine and in the artifact.
_OS = os_info()
DATA_WORDS = sorted(
    {
        *(w for w in (_OS.get("id"), _OS.get("version")) if w),
        *("debian", "ubuntu", "fedora", "nixos", "linux", "amd64", "x86_64", "generic"),
        *("warning", "info", "debug", "error", "agents", "dashboard", "dark", "development", "production"),
        *("success", "degraded", "failed", "running", "enabled", "active", "hourly", "daily-0600"),
        *(job.id for job in REGISTRY),
        *("host", "scheduler", "dream", "extensions", "items", "generatedAt", "kernel", "trend-finder"),
        *("true", "false", "1", "0", "5173", "45", "/api", "AI OS", "Europe/Berlin", "C.UTF-8"),
    }
)
# Setting names as sessions and projects spell them (none says "secret").
NAME_WORDS = (
    *("VITE", "APP", "LOG", "LEVEL", "DEFAULT", "VIEW", "TITLE", "MODE", "NODE", "ENV", "THEME", "PORT"),
    *("DESKTOP", "SESSION", "XDG", "GDM", "GNOME", "KDE", "TERMINAL", "SCREEN", "SERVICE", "ID", "NAME"),
    *("WSL", "DISTRO", "WT", "PROFILE", "INVOCATION", "MANAGER", "PID", "LANG", "TZ", "DEBUG", "DATASET"),
)
setting_names = st.lists(st.sampled_from(NAME_WORDS), min_size=1, max_size=3).map("_".join)
ids = st.one_of(
    st.uuids().map(str),
    st.uuids().map(lambda u: u.hex),
    st.text(alphabet="0123456789abcdef", min_size=8, max_size=40),
)
setting_values = st.one_of(
    st.sampled_from(DATA_WORDS),
    ids,
    st.lists(st.sampled_from(DATA_WORDS), min_size=1, max_size=3).map(" ".join),
    st.integers(0, 100000).map(str),
)


def _env_local_text(values: dict[str, str]) -> str:
    forms = ("{k}={v}\n", '{k}="{v}"\n', "export {k}='{v}'\n", "{k}={v}  # a comment\n")
    return "".join(forms[i % len(forms)].format(k=k, v=v) for i, (k, v) in enumerate(values.items()))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    user=st.sampled_from(DATA_WORDS).filter(lambda w: w.isalpha() and len(w) >= 3),
    env=st.dictionaries(setting_names, setting_values, max_size=12),
    env_local=st.dictionaries(setting_names, setting_values, max_size=12),
)
def test_plausible_settings_never_fail_or_degrade_the_main_job(
    tmp_path_factory: Any, user: str, env: dict[str, str], env_local: dict[str, str]
) -> None:
    tmp = tmp_path_factory.mktemp("field")
    ctx = make_ctx(tmp, {**env, "USER": user, "LOGNAME": user})
    ctx.env_local_path.write_text(_env_local_text(env_local))
    out = aggregate_host_local(ctx, REGISTRY)
    assert out.write is not None and out.write.ok, out.warnings
    assert not out.degraded, out.warnings
    written = json.loads(ctx.live_data_path.read_text())
    assert written["host"]["kernel"] is not None and "unavailable" not in out.warnings


# -- secrets of each kind --------------------------------------------------------------
_ALNUM = string.ascii_letters + string.digits
tokens = st.text(alphabet=_ALNUM, min_size=36, max_size=48)
SECRET_NAMES = (
    *("APIFY_TOKEN", "GITHUB_TOKEN", "SESSION_SECRET", "DB_PASSWORD", "SMTP_PASSWD", "ANTHROPIC_API_KEY"),
    *("STRIPE_KEY", "GOOGLE_CREDENTIALS", "SENTRY_DSN", "AIOS_PING_URL_AGENT_AGGREGATE", "MY_APIKEY"),
)
named = st.tuples(
    st.sampled_from(SECRET_NAMES),
    # A switch word ("DISABLED") is a setting whatever the name: no secret to look for.
    st.text(alphabet=_ALNUM + "-_.!%", min_size=8, max_size=40).filter(lambda v: v.lower() not in P.SWITCH_WORDS),
)
formed = st.tuples(
    st.sampled_from(("VALUE", "SOMETHING", "X")),
    st.one_of(
        tokens.map(lambda t: "sk-proj-" + t),
        tokens.map(lambda t: "sk-ant-api03-" + t),
        tokens.map(lambda t: "ghp_" + t),
        tokens.map(lambda t: "github_pat_" + t),
        tokens.map(lambda t: "apify_api_" + t),
        tokens.map(lambda t: "glpat-" + t),
        tokens.map(lambda t: "xoxb-" + t),
        tokens.map(lambda t: f"eyJ{t[:12]}.eyJ{t[12:30]}.{t[30:]}"),
    ),
)
url = st.tuples(
    st.sampled_from(("DATABASE_URL", "REDIS_URL", "UPSTREAM")),
    st.tuples(st.sampled_from(("postgres", "redis", "https")), st.text(alphabet=_ALNUM, min_size=8, max_size=24)).map(
        lambda t: f"{t[0]}://app:{t[1]}@db.internal:5432/x"
    ),
)
multi_line = st.tuples(
    st.just("SESSION_SECRET"), st.lists(st.text(alphabet=_ALNUM, min_size=8, max_size=16), min_size=2, max_size=3)
).map(lambda t: (t[0], "\n".join(t[1])))
short = st.tuples(
    st.sampled_from(("PIN_PASSWORD", "API_TOKEN")),
    st.text(alphabet=_ALNUM, min_size=4, max_size=7).filter(lambda v: v.lower() not in P.SWITCH_WORDS),
)
SEPARATORS = (" ", "'", '"', "=", ": ", "/", ",", "(", "\n")


def _must_not_appear(value: str) -> set[str]:
    return P.secret_values({"X_SECRET": value}) | P.secret_values({"DSN": value})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    secret=st.one_of(named, formed, url, multi_line, short),
    in_env_local=st.booleans(),
    before=st.sampled_from(SEPARATORS),
    after=st.sampled_from(SEPARATORS),
)
def test_generated_secrets_never_appear_in_output(
    tmp_path_factory: Any, secret: tuple[str, str], in_env_local: bool, before: str, after: str
) -> None:
    name, value = secret
    tmp = tmp_path_factory.mktemp("secret")
    if in_env_local:
        ctx = make_ctx(tmp)
        ctx.env_local_path.write_text(f'{name}="{value}"\n')
    else:
        ctx = make_ctx(tmp, {name: value})
    forbidden = _must_not_appear(value)
    assert forbidden, f"{name}: not recognised as a secret"
    # A careless handler's message, as text shown and as a log line.
    text = f"failed{before}{value}{after}while calling the API"
    shown = [ctx.privacy.redact(text), ctx.privacy.redact_line(text)]
    log = RunLog(tmp / "run.jsonl", "run-1", "job", ctx.privacy)
    log.event("failure", message=text, fields={"detail": text})
    shown.append((tmp / "run.jsonl").read_text())
    for out in shown:
        for part in forbidden:
            # A short secret is masked as a word ("call" stays inside "calling").
            word = rf"(?<![A-Za-z0-9]){re.escape(part)}(?![A-Za-z0-9])"
            assert (part not in out) if len(part) >= P.WORD_SECRET_LEN else not re.search(word, out), f"{name} leaked"
    # In generated data: a title carrying it is refused, the file untouched.
    scope = WriteScope(ScopeKind.EXTENSION_ITEM, "demo-ext")
    from aios_systemd.data.writer import write_live_data_for_scope

    result = write_live_data_for_scope(ctx, scope, item() | {"title": text})
    assert result.outcome == "privacy", result
    assert not Path(ctx.live_data_path).exists()
