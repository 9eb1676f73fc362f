"""Console sessions and CSRF tokens, both stateless HMACs (safe across processes).

A browser cannot send ``X-API-Key``, so when an API key is configured the login form
trades the key for a session cookie: ``<issued unix seconds>.<hex HMAC-SHA256(key,
"statewave-console-session:<issued>")>``. It is HttpOnly, SameSite=Strict, scoped to
``/console``, expires after :data:`SESSION_MAX_AGE_SECONDS`, and stops working as soon as
the key changes. The API key middleware accepts it only on console paths.

CSRF: every console form carries ``csrf_token`` = HMAC(key or a fixed label, value of the
random ``statewave_console_csrf`` cookie). A cross-site page can neither read that cookie
nor (SameSite=Strict) make the browser send it, so it cannot forge the field.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

SESSION_COOKIE = "statewave_console"
CSRF_COOKIE = "statewave_console_csrf"
CSRF_FIELD = "csrf_token"
CONSOLE_PREFIX = "/console"
LOGIN_PATH = "/console/login"
STATIC_PREFIX = "/console/static/"
SESSION_MAX_AGE_SECONDS = 12 * 3600
_SESSION_LABEL = b"statewave-console-session:"
_CSRF_LABEL = b"statewave-console-csrf:"
_MAX_TOKEN_LENGTH = 128


def is_console_path(path: str) -> bool:
    return path == CONSOLE_PREFIX or path.startswith(CONSOLE_PREFIX + "/")


def is_console_public(path: str) -> bool:
    """Console paths reachable without a session: the login form and the stylesheet."""
    return path == LOGIN_PATH or path.startswith(STATIC_PREFIX)


def _mac(key: bytes, message: bytes) -> str:
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def issue_session(api_key: bytes, now: float | None = None) -> str:
    """A session token for ``api_key`` issued at ``now`` (Unix seconds)."""
    issued = str(int(time.time() if now is None else now))
    return f"{issued}.{_mac(api_key, _SESSION_LABEL + issued.encode('ascii'))}"


def session_valid(token: str | None, api_key: bytes, now: float | None = None) -> bool:
    """True when ``token`` was issued for ``api_key`` and has not expired."""
    if not token or len(token) > _MAX_TOKEN_LENGTH or "." not in token:
        return False
    issued, _, mac = token.partition(".")
    if not issued.isdigit():
        return False
    age = (time.time() if now is None else now) - int(issued)
    if not 0 <= age <= SESSION_MAX_AGE_SECONDS:
        return False
    expected = _mac(api_key, _SESSION_LABEL + issued.encode("ascii"))
    return hmac.compare_digest(expected.encode("ascii"), mac.encode("utf-8", "replace"))


def new_csrf_seed() -> str:
    """The random value kept in the CSRF cookie."""
    return secrets.token_urlsafe(32)


def csrf_token(seed: str, api_key: bytes | None) -> str:
    """The form token bound to the browser's CSRF cookie (and to the key when set)."""
    return _mac(_CSRF_LABEL + (api_key or b""), seed.encode("utf-8"))


def csrf_valid(seed: str | None, token: str | None, api_key: bytes | None) -> bool:
    if not seed or not token or len(seed) > _MAX_TOKEN_LENGTH or len(token) > _MAX_TOKEN_LENGTH:
        return False
    expected = csrf_token(seed, api_key)
    return hmac.compare_digest(expected.encode("ascii"), token.encode("utf-8", "replace"))


def key_matches(provided: str, api_key: bytes) -> bool:
    return hmac.compare_digest(provided.encode("utf-8"), api_key)
