"""The two-step purge of the jobs and webhooks pages: the first POST counts what the filter
matches and shows it ("This deletes N …") with a Confirm button; only the second POST,
carrying the same filter and ``confirm``, deletes. Both steps call the same service function
(``dry_run`` on the first), so the count shown is the delete's own filter."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from fastapi import Request
from fastapi.responses import Response

from statewave_server.console.web import (
    ALL_TENANTS,
    log,
    notice_redirect,
    number,
    render,
    tenant_choice,
)

#: The default age when the form's is missing or out of range (the form's own default).
DEFAULT_HOURS = 24.0


@dataclass(frozen=True)
class PurgeChoice:
    """The purge form's filter, as read once and echoed back by the confirmation page."""

    status: str | None
    tenant: str  # the form's value: ``*`` every tenant, '' the default one
    older_than_hours: float

    @property
    def tenant_id(self) -> str | None:
        return tenant_choice(self.tenant)


#: Counts (``dry_run=True``) or deletes what a choice matches; the number either way.
Purge = Callable[[PurgeChoice, bool], Awaitable[int]]


@dataclass(frozen=True)
class PurgePage:
    """What differs between the jobs and the webhooks purge."""

    page: str  # "jobs" or "webhooks": the list page and the form's path
    noun: str  # "finished job(s)"
    any_status: str  # what an empty status means: "completed or dead"
    notice: str  # the NOTICES key reporting the deletion


def read_choice(form: Mapping[str, str]) -> PurgeChoice:
    return PurgeChoice(
        status=form.get("status") or None,
        tenant=form.get("tenant_id", ALL_TENANTS),
        older_than_hours=number(form.get("older_than_hours"), DEFAULT_HOURS),
    )


async def purge_step(
    request: Request, form: Mapping[str, str], what: PurgePage, purge: Purge
) -> Response:
    """Without ``confirm``: the confirmation page with the count. With it: delete, then back
    to the list with a notice saying how many went."""
    choice = read_choice(form)
    if form.get("confirm") != "yes":
        count = await purge(choice, True)
        return render(
            request,
            "purge_confirm.html",
            title=f"Purge {what.noun}?",
            what=what,
            choice=choice,
            count=count,
        )
    deleted = await purge(choice, False)
    log.info(
        f"console_{what.page}_purged",
        deleted=deleted,
        status=choice.status,
        tenant_id=choice.tenant_id,
        hours=choice.older_than_hours,
    )
    return notice_redirect(request, what.page, what.notice, deleted)
