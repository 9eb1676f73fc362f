"""``statewave mcp``: serve the memory tools over stdio for desktop agent clients.

``register(app)`` adds the command to the main Typer app. Standard output carries the MCP
protocol only; nothing else may be printed there.
"""

from __future__ import annotations

from typing import Annotated

import typer


def mcp(
    url: Annotated[
        str,
        typer.Option(envvar="STATEWAVE_URL", help="Base URL of the Statewave server."),
    ] = "http://localhost:8100",
    api_key: Annotated[
        str | None,
        typer.Option(envvar="STATEWAVE_API_KEY", help="Sent as X-API-Key."),
    ] = None,
    tenant: Annotated[
        str | None,
        typer.Option(envvar="STATEWAVE_TENANT_ID", help="Sent as X-Tenant-ID."),
    ] = None,
) -> None:
    """Run the server's MCP tools over stdio (relayed to URL/mcp) until stdin closes."""
    import anyio

    from statewave_server.mcp.stdio import Remote, serve_stdio

    anyio.run(serve_stdio, Remote(url, api_key=api_key, tenant=tenant))


def register(app: typer.Typer) -> None:
    app.command()(mcp)
