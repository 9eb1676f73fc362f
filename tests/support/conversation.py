"""Episode batches built from a scripted conversation, for seeding through the HTTP API."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def message_batch(
    subject: str, conversation: Iterable[tuple[str, str, str]]
) -> list[dict[str, Any]]:
    """One ``message`` episode per ``(session, role, content)`` line, for ``subject``.

    The role is also the episode source; idempotency keys are ``<subject>-<index>``.
    """
    return [
        {
            "subject_id": subject,
            "source": role,
            "type": "message",
            "payload": {"messages": [{"role": role, "content": content}]},
            "session_id": session,
            "idempotency_key": f"{subject}-{i}",
        }
        for i, (session, role, content) in enumerate(conversation)
    ]
