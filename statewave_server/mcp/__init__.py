"""Statewave's memory tools over the Model Context Protocol (official ``mcp`` SDK).

A transport next to ``api/``: tools validate their arguments with the same wire models as
``/v1`` and call the same services. ``http.py`` serves them at ``/mcp`` (streamable HTTP,
behind the app's auth, tenant and limit middleware); ``stdio.py`` relays them from a
remote server to a desktop client (``statewave mcp``).
"""
