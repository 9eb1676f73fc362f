"""The compatibility matrix is data, consistent with the revision chain and the README."""

from __future__ import annotations

import pytest

import statewave_server
from devtools.postgres import REPO_ROOT
from statewave_server.ops.matrix import (
    COMPATIBILITY_MATRIX,
    MatrixRow,
    load_chain,
    release_introducing,
    render_markdown_table,
    row_for,
    script_directory,
)
from tests.fixtures.runbook import REVISIONS

RUNBOOK_ROWS = [
    ("0.6.1", "0012_add_health_cache", "0012_add_health_cache"),
    ("0.6.0", "0012_add_health_cache", "0010"),
    ("0.5.0", "0009_add_rate_limit_table", "0009_add_rate_limit_table"),
    ("0.4.0", "0008_add_tenant_id_columns", "0005"),
    ("0.3.0", "0005_webhook_events", "0004"),
    ("0.2.0", "0004_embedding_as_text", "0001"),
    ("0.1.0", "0001", "0001"),
]


def test_matrix_is_the_runbook_table() -> None:
    rows = [(r.app_version, r.expected_head, r.min_compatible) for r in COMPATIBILITY_MATRIX]
    assert rows == RUNBOOK_ROWS


def test_chain_is_the_twelve_revisions_with_one_head() -> None:
    chain = load_chain()
    assert chain.ids == REVISIONS
    assert chain.heads == ("0012_add_health_cache",)


def test_every_revision_declares_its_flags() -> None:
    for script in script_directory().walk_revisions():
        assert isinstance(getattr(script.module, "additive", None), bool), script.revision
        assert isinstance(getattr(script.module, "downgrade_loses_data", None), bool)


@pytest.mark.parametrize("row", COMPATIBILITY_MATRIX, ids=lambda r: r.app_version)
def test_row_is_consistent_with_the_chain(row: MatrixRow) -> None:
    """Both revisions resolve uniquely, min ≤ head, and everything after min is additive."""
    chain = load_chain()
    head = chain.resolve(row.expected_head)
    minimum = chain.resolve(row.min_compatible)
    assert chain.index(minimum) <= chain.index(head)
    window = chain.revisions[chain.index(minimum) + 1 : chain.index(head) + 1]
    breaking = [info.revision for info in window if not info.additive]
    assert breaking == [], f"{row}: older code cannot run on {breaking}"


def test_heads_never_go_backwards_with_newer_versions() -> None:
    chain = load_chain()
    positions = [chain.index(chain.resolve(r.expected_head)) for r in COMPATIBILITY_MATRIX]
    assert positions == sorted(positions, reverse=True)


def test_ambiguous_or_missing_prefix_is_rejected() -> None:
    chain = load_chain()
    with pytest.raises(LookupError):
        chain.resolve("00")
    with pytest.raises(LookupError):
        chain.resolve("0099")


def test_current_app_version_has_a_row() -> None:
    row = row_for(statewave_server.__version__)
    assert load_chain().resolve(row.expected_head) == "0012_add_health_cache"


def test_release_introducing_names_the_first_version_shipping_a_revision() -> None:
    chain = load_chain()
    assert release_introducing("0010_add_session_id", chain) == "0.6.0"
    assert release_introducing("0006_add_subject_snapshots", chain) == "0.4.0"
    assert release_introducing("0001_initial_schema", chain) == "0.1.0"


def test_rendered_table() -> None:
    table = render_markdown_table()
    assert (
        table.splitlines()[0]
        == "| App Version | Expected Head Revision | Min Compatible Revision |"
    )
    assert "| 0.6.0 | 0012_add_health_cache | 0010 |" in table.splitlines()
    assert len(table.splitlines()) == 2 + len(RUNBOOK_ROWS)


def test_readme_carries_exactly_the_matrix() -> None:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    assert render_markdown_table() in readme, "README.md must contain render_markdown_table()"
