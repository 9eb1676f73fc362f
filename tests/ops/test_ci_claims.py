"""Row 11 of issue 15: under ``CI=true`` a missing real part fails; elsewhere it skips."""

from __future__ import annotations

import pytest

from tests.fixtures.ci import require_real_part


def test_missing_part_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true but no chromium"):
        require_real_part(False, "no chromium")
    require_real_part(True, "present parts never fail")


def test_missing_part_skips_on_a_developer_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception):
        require_real_part(False, "no chromium")
