from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.trend_finder.project import Project, make_project
from tests.trend_finder.server import FakeApify, fake_apify

TOKEN = "apify_api_CANARYtoken0123456789"  # a test canary, not a credential


@pytest.fixture
def api() -> Iterator[FakeApify]:
    with fake_apify() as server:
        yield server


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return make_project(tmp_path)
