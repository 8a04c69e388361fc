"""The campaign's quick (CI) configuration, one test per scenario so a failure is attributed."""

from __future__ import annotations

import os

import pytest

from tests.reliability.campaign import SCENARIOS, run_scenario
from tests.reliability.common import QUICK

SEED = int(os.environ.get("AIOS_CAMPAIGN_SEED", "20261126"))


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_scenario_holds(name: str) -> None:
    tally = run_scenario(name, QUICK, SEED)
    detail = f"{tally.to_json()}"
    assert tally.tries > 0, detail
    assert tally.lost == 0, detail
    assert tally.leaked == 0, detail
    assert tally.held == tally.tries, detail
