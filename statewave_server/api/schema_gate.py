"""503 ``schema_incompatible`` on the data routes while the schema cannot serve them.

Ops routes (``/healthz``, ``/readyz``, ``/ops/migrations``) stay open so an operator can see
what is wrong; everything that reads or writes data is refused with the envelope instead of
a 500 with raw SQL. The console refuses its data pages itself, as HTML
(``console/web.py:schema_usable``).
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Receive, Scope, Send

from statewave_server.api.errors import error_body
from statewave_server.ops.schema_gate import gate_for as gate_for
from statewave_server.ops.schema_gate import refusal

DATA_PREFIXES = ("/v1/", "/admin/")
SCHEMA_INCOMPATIBLE = "schema_incompatible"


def _reads_data(path: str) -> bool:
    return path.startswith(DATA_PREFIXES)


class SchemaGateMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _reads_data(scope["path"]):
            await self.app(scope, receive, send)
            return
        gate = gate_for(scope["app"])
        status = None if gate is None else await gate.blocked()
        if status is None:
            await self.app(scope, receive, send)
            return
        message = refusal(status)
        request_id = scope.get("state", {}).get("request_id")
        body = error_body(
            SCHEMA_INCOMPATIBLE,
            message,
            details={
                "current_revision": status.current_revision,
                "expected_head": status.expected_head,
            },
            request_id=request_id,
        )
        payload = json.dumps(body).encode()
        headers = [(b"content-type", b"application/json"), (b"retry-after", b"30")]
        headers.append((b"content-length", str(len(payload)).encode()))
        await send({"type": "http.response.start", "status": 503, "headers": headers})
        await send({"type": "http.response.body", "body": payload})
