"""The validated-config cache: a hit skips validation (and pydantic), a tampered entry is
re-checked against the registry, and changed bytes are always a miss."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from aios_systemd import config
from aios_systemd.registry import REGISTRY

DOC = {
    "schemaVersion": 1,
    "jobs": {"aggregate": {"cadence": "hourly", "notify": True}, "dream": {"times": ["7:00"]}},
}


def test_second_load_is_a_cache_hit_without_pydantic(tmp_path: Path) -> None:
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(DOC))
    cache = tmp_path / "cache"
    first = config.load(path, REGISTRY, cache)
    assert len(list(cache.iterdir())) == 1
    code = (
        "import sys; from pathlib import Path; from aios_systemd import config; "
        "from aios_systemd.registry import REGISTRY; "
        f"c = config.load(Path({str(path)!r}), REGISTRY, Path({str(cache)!r})); "
        "s = c.settings('aggregate'); print(s.cadence.id, s.notify, len(c.warnings), 'pydantic' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["hourly", "True", str(len(first.warnings)), "False"]


def test_changed_bytes_miss_and_tampered_entries_are_rechecked(tmp_path: Path) -> None:
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(DOC))
    cache = tmp_path / "cache"
    config.load(path, REGISTRY, cache)
    entry = next(cache.iterdir())
    doc = json.loads(entry.read_text())
    doc["jobs"]["aggregate"][0] = "*-*-* *:*:00"  # an unreviewed calendar smuggled into the cache
    entry.write_text(json.dumps(doc))
    again = config.load(path, REGISTRY, cache)
    assert again.settings("aggregate").cadence.id == "hourly"
    doc = json.loads(entry.read_text())
    doc["jobs"]["aggregate"][4] = "yes"  # notify must be a boolean there too
    entry.write_text(json.dumps(doc))
    assert config.load(path, REGISTRY, cache).settings("aggregate").notify is True
    path.write_text(json.dumps({"jobs": {"aggregate": {"cadence": "every-2-hours"}}}))
    assert config.load(path, REGISTRY, cache).settings("aggregate").cadence.id == "every-2-hours"


def test_an_edited_config_module_misses_the_cache(tmp_path: Path, monkeypatch) -> None:
    # An editable install keeps its version while its code changes: the key must see it.
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(DOC))
    cache = tmp_path / "cache"
    source = tmp_path / "config.py"
    source.write_text("# stands in for the module's source\n")
    monkeypatch.setattr(config, "__file__", str(source))
    config.load(path, REGISTRY, cache)
    config.load(path, REGISTRY, cache)
    assert len(list(cache.iterdir())) == 1  # the same code: a hit
    source.write_text("# the module was edited\n")
    config.load(path, REGISTRY, cache)
    assert len(list(cache.iterdir())) == 2  # a miss, then its own entry
