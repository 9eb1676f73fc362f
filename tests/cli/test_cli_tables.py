"""CLI tables read at 100-120 columns: relative times, coloured statuses, 8-character ids."""

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


def test_table_fits_100_columns_with_short_ids_and_cut_subjects() -> None:
    job_id = "0123456789abcdef0123456789abcdef"
    row = {
        "job_id": job_id,
        "kind": "compile",
        "subject_id": "a-very-long-subject-identifier-" * 3,
        "status": "dead",
        "created_at": (datetime.now(UTC) - timedelta(hours=5)).isoformat(),
        "error": "boom [red]not markup[/red] " * 10,
    }
    columns = (
        ("id", "job_id"),
        ("kind", "kind"),
        ("subject", "subject_id"),
        ("status", "status"),
        ("created", "created_at"),
    )
    console = Console(width=100, record=True, color_system="standard")
    console.print(rows_table("Jobs", [row], columns, "error"))
    text = console.export_text(clear=False)
    assert job_id[:8] in text and job_id[:9] not in text
    assert "a-very-long-subject-ide…" in text  # cut, not folded over lines
    assert "[red]not markup[/red]" in text  # user text is shown, never read as markup
    assert "5h ago" in text and row["created_at"][:10] not in text
    assert all(len(line) <= 100 for line in text.splitlines())
    assert "\x1b[1;31mdead" in console.export_text(styles=True)
