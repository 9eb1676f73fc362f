"""A support agent's memory loop with the official ``statewave`` SDK.

Ingests a short support conversation (one episode per turn, all in one session),
compiles it into memories and prints the context string the agent would put into its
next prompt.

    pip install statewave
    STATEWAVE_URL=http://localhost:8100 python examples/support_agent.py

Environment: ``STATEWAVE_URL`` (default ``http://localhost:8100``), and when the server
asks for them ``STATEWAVE_API_KEY`` and ``STATEWAVE_TENANT_ID``.
"""

from __future__ import annotations

import os

from statewave import StatewaveClient

SUBJECT_ID = "customer-alice-chen"
SESSION_ID = "ticket-4711"

CONVERSATION = [
    ("user", "Hi, my name is Alice Chen and I work at Globex."),
    ("assistant", "Hello Alice, I'm Sam from support. How can I help?"),
    ("user", "We're on the Pro plan, and the CSV export has failed since Monday."),
    ("assistant", "Sorry about that. Could you retry with a smaller date range?"),
    ("user", "Same error with one day of data. I use Firefox on Windows."),
]


def main() -> None:
    client = StatewaveClient(
        os.environ.get("STATEWAVE_URL", "http://localhost:8100"),
        api_key=os.environ.get("STATEWAVE_API_KEY") or None,
        tenant_id=os.environ.get("STATEWAVE_TENANT_ID") or None,
    )
    with client:
        for turn, (role, text) in enumerate(CONVERSATION):
            client.create_episode(
                SUBJECT_ID,
                source=role,
                type="message",
                payload={"messages": [{"role": role, "content": text}]},
                session_id=SESSION_ID,
                # Re-running the example does not store the conversation twice.
                idempotency_key=f"{SESSION_ID}-turn-{turn}",
            )
        compiled = client.compile_memories(SUBJECT_ID)
        print(f"Compiled {compiled.memories_created} new memories for {SUBJECT_ID}.\n")
        print(
            client.get_context_string(
                SUBJECT_ID, "Help the customer with the failing CSV export", max_tokens=800
            )
        )


if __name__ == "__main__":
    main()
