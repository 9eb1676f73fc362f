"""``statewave webhooks list|show|redrive|purge``: the webhook outbox.

On the configured database, or through a server's ``/admin/webhooks`` with ``--url``; both
print the API's shapes. Ids may be given as any unique prefix (tables show 8 characters).
"""

from __future__ import annotations

import enum
import uuid
from typing import Annotated, Any

import typer

from statewave_server.api.schemas.admin import WebhookEventDetail, WebhookEventResponse
from statewave_server.cli import ids, local, output, purge, remote
from statewave_server.cli.output import Json
from statewave_server.services.admin import dashboard
from statewave_server.services.admin import outbox as service
from statewave_server.settings import get_settings

webhooks_app = typer.Typer(
    help="Inspect the webhook outbox and redrive dead letters.", no_args_is_help=True
)

_COLUMNS = (
    ("id", "id"),
    ("event", "event"),
    ("status", "status"),
    ("tries", "attempts"),
    ("http", "http_status"),
    ("created", "created_at"),
    ("next try", "next_attempt_at"),
)

_ATTEMPT_COLUMNS = (
    ("try", "attempt"),
    ("time", "attempted_at"),
    ("http", "http_status"),
    ("ms", "duration_ms"),
)


class WebhookStatus(enum.StrEnum):
    PENDING = "pending"
    DELIVERING = "delivering"
    DELIVERED = "delivered"
    DEAD_LETTER = "dead_letter"


class FinishedStatus(enum.StrEnum):
    DELIVERED = "delivered"
    DEAD_LETTER = "dead_letter"


def _list(filters: dict[str, str | None], limit: int) -> tuple[list[dict[str, Any]], int]:
    """Newest outbox rows first matching ``filters`` (the API's query names), and the total."""
    server = remote.current()
    if server is not None:
        return server.page("/admin/webhooks", "events", filters, limit)
    page = local.run(
        lambda s: service.list_events(
            s,
            status=filters.get("status"),
            event_type=filters.get("event_type"),
            tenant_id=filters.get("tenant_id"),
            id_prefix=filters.get("id_prefix"),
            limit=limit,
        )
    )
    rows = [WebhookEventResponse.model_validate(e).model_dump(mode="json") for e in page.events]
    return rows, page.total


def _is_uuid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False


def resolve(raw: str) -> str:
    """A whole event id from an id or a unique prefix (exit 1 when unknown or ambiguous)."""

    def matches(prefix: str) -> list[str]:
        rows, _ = _list({"id_prefix": prefix}, 2)
        return [row["id"] for row in rows]

    return ids.resolve(raw, "webhook event", _is_uuid, matches)


@webhooks_app.command("list")
def webhooks_list(
    status: Annotated[
        WebhookStatus | None, typer.Option(help="Only events in this status.")
    ] = None,
    event: Annotated[
        str | None, typer.Option(help="Only this event type, e.g. memories.compiled.")
    ] = None,
    tenant: output.TenantFilter = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Rows to show.")] = 50,
    json_output: Json = False,
) -> None:
    """List webhook events, newest first."""
    filters = {
        "status": status.value if status else None,
        "event_type": event,
        "tenant_id": tenant,
    }
    rows, total = _list(filters, limit)
    if json_output:
        output.print_json({"count": len(rows), "total": total, "events": rows})
        return
    for row in rows:  # a next attempt means nothing once delivered or dead
        if row["status"] in (WebhookStatus.DELIVERED, WebhookStatus.DEAD_LETTER):
            row["next_attempt_at"] = None
    title = f"Webhook events ({len(rows)} of {total})"
    output.show(output.rows_table(title, rows, _COLUMNS, "last_error"))


def _show_attempts(attempts: list[dict[str, Any]] | None) -> None:
    """The attempt log as a table (the error, or else the reply's start, last), or why
    there is none."""
    if attempts is None:
        typer.echo(f"No attempt log: {service.ATTEMPT_LOG_MISSING}")
        return
    rows = [{**a, "error_or_reply": a["error"] or a["response_snippet"]} for a in attempts]
    title = f"Attempts ({len(rows)})"
    output.show(output.rows_table(title, rows, _ATTEMPT_COLUMNS, "error_or_reply"))


@webhooks_app.command("show")
def webhooks_show(
    event_id: Annotated[str, typer.Argument(help="An event id or a unique prefix of one.")],
    json_output: Json = False,
) -> None:
    """One outbox event: status, attempts, last error and its payload."""
    full = resolve(event_id)

    def read_locally() -> dict[str, Any]:
        found = local.run(lambda s: service.get_event_detail(s, uuid.UUID(full)))
        return WebhookEventDetail.of(found.event, found.attempts).model_dump(mode="json")

    event = remote.read(f"/admin/webhooks/{full}", read_locally)
    output.show_record(
        f"Webhook event {event['id']}",
        event,
        ("payload",),
        json_output=json_output,
        tables={"attempt_log": _show_attempts},
    )


@webhooks_app.command("redrive")
def webhooks_redrive(
    event_id: Annotated[
        list[str] | None,
        typer.Option("--event-id", help="A dead letter to retry, or a unique prefix (repeatable)."),
    ] = None,
    all_dead: Annotated[bool, typer.Option("--all-dead", help="Retry every dead letter.")] = False,
    json_output: Json = False,
) -> None:
    """Return dead-lettered events to the queue (attempts reset, due now); exit 1 if a given
    id is not a dead letter."""
    if bool(event_id) == all_dead:
        output.usage_error("Give --event-id (one or more) or --all-dead, not both.")
    wanted = None if all_dead else [resolve(raw) for raw in event_id or []]
    server = remote.current()
    if server is not None:
        body = {"all_dead": True} if wanted is None else {"event_ids": wanted}
        done = server.call("POST", "/admin/webhooks/redrive", body=body)["event_ids"]
    else:
        chosen = None if wanted is None else [uuid.UUID(value) for value in wanted]
        done = [str(i) for i in local.run(lambda s: service.redrive(s, event_ids=chosen))]
    missed = [value for value in wanted or [] if value not in done]
    if json_output:
        output.print_json({"redriven": len(done), "event_ids": done, "not_redriven": missed})
    else:
        typer.echo(f"Redrove {len(done)} dead-lettered webhook event(s) to pending.")
        output.echo_ids(done)
        if server is None and not get_settings().webhook_url:
            typer.echo("STATEWAVE_WEBHOOK_URL is not set: nothing will deliver them.", err=True)
    if missed:
        remote.fail(f"not dead-lettered or unknown: {', '.join(missed)}")


@webhooks_app.command("purge")
def webhooks_purge(
    status: Annotated[
        FinishedStatus | None, typer.Option(help="Only this status (default: both).")
    ] = None,
    event: Annotated[str | None, typer.Option(help="Only this event type.")] = None,
    tenant: output.TenantFilter = None,
    older_than_hours: purge.OlderThanHours = None,
    yes: purge.Yes = False,
    dry_run: purge.DryRun = False,
    json_output: Json = False,
) -> None:
    """Delete delivered and dead-lettered events matching at least one filter: prints "would
    delete N" and asks; scripts pass --yes (without it, --json or no terminal exits 2)."""
    filters: dict[str, Any] = {
        "status": status.value if status else None,
        "event_type": event,
        "tenant_id": tenant,
        "older_than_hours": older_than_hours,
    }

    def purge_locally(only_count: bool) -> int:
        return local.run(
            lambda s: dashboard.purge_webhook_events(
                s,
                status=filters["status"],
                event_type=event,
                tenant_id=tenant,
                older_than_hours=older_than_hours,
                dry_run=only_count,
            )
        )

    purge.run(
        "/admin/webhooks",
        "webhook event(s)",
        "delivered or dead letter",
        filters,
        purge_locally,
        yes=yes,
        dry_run=dry_run,
        json_output=json_output,
    )
