"""The console's failures as HTML pages: the route class every page router uses, and the
schema gate of the data pages."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, Final

from fastapi import Depends, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.routing import APIRoute

from statewave_server.console.web import PageError, error_page
from statewave_server.errors import StatewaveError, failure_of
from statewave_server.ops.schema_gate import gate_for, refusal

#: Page titles of the failures ``failures.failure_of`` classifies (by status).
FAILURE_TITLES: Final = {
    503: "Database unavailable",
    500: "Something went wrong",
    422: "Invalid value",
}


class HtmlErrorRoute(APIRoute):
    """Console routes answer every failure with an HTML error page (the API's JSON envelope
    is for programs, not for a browser): domain errors, bad query strings, HTTP errors, an
    unreachable database (503) and anything unexpected (500, logged)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except PageError as exc:
                return error_page(request, exc.status_code, exc.title, exc.message)
            except RequestValidationError as exc:
                fields = ", ".join(
                    str(error["loc"][-1]) for error in exc.errors() if error.get("loc")
                )
                message = f"Check these values: {fields}." if fields else "Check the address."
                return error_page(request, 422, "Invalid request", message)
            except HTTPException as exc:
                return error_page(request, exc.status_code, "Request refused", str(exc.detail))
            except StatewaveError as exc:
                title = exc.code.replace("_", " ").capitalize()
                return error_page(request, exc.status_code, title, exc.message)
            except Exception as exc:
                failure = failure_of(exc)
                title = FAILURE_TITLES.get(failure.status, "Request failed")
                return error_page(request, failure.status, title, failure.message)

        return handle


async def schema_usable(request: Request) -> None:
    """Data pages refuse (HTML 503) while the schema cannot serve this version; the login
    page and the stylesheet stay up, and ``/ops/migrations`` says what to do."""
    gate = gate_for(request.app)
    status = None if gate is None else await gate.blocked()
    if status is not None:
        raise PageError(503, "Schema incompatible", refusal(status))


#: The dependency of every page router that reads data.
DATA_PAGE = [Depends(schema_usable)]
