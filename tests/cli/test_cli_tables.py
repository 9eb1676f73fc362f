"""CLI tables read at 100-120 columns: relative times, coloured statuses, whole ids."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rich.console import Console

from statewave_server.cli.output import age, rows_table

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def test_age_is_short_and_relative() -> None:
    assert age(NOW - timedelta(minutes=47), NOW) == "47m ago"
    assert age((NOW - timedelta(days=3, hours=2)).isoformat(), NOW) == "3d ago"
    assert age(NOW + timedelta(seconds=30), NOW) == "in 30s"
    assert age(None, NOW) == ""


def test_table_fits_120_columns_with_whole_ids() -> None:
    job_id = "0123456789abcdef0123456789abcdef"
    row = {
        "id": job_id,
        "kind": "compile",
        "status": "dead",
        "created_at": (datetime.now(UTC) - timedelta(hours=5)).isoformat(),
        "error": "boom " * 40,
    }
    console = Console(width=120, record=True, color_system="standard")
    console.print(rows_table("Jobs", [row], ("id", "kind", "status", "created_at"), "error"))
    text = console.export_text(clear=False)
    assert job_id in text  # one line, not folded
    assert "5h ago" in text and row["created_at"][:10] not in text
    assert all(len(line) <= 120 for line in text.splitlines())
    assert "\x1b[1;31mdead" in console.export_text(styles=True)
