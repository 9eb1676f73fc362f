"""``GET /v1/subjects/{id}/health`` hears what the customer said: Bob, with an unresolved
ticket and a threat to cancel, is not "healthy 100", and each such factor names the
phrase, when it was said and in which session (evidence fields added, none removed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from statewave.models import Health

SUBJECT = "customer-bob-marsh"
NOW = datetime.now(UTC).replace(microsecond=0)


def _turn(session: str, role: str, content: str, days_ago: float) -> dict[str, Any]:
    return {
        "subject_id": SUBJECT,
        "source": "support-chat",
        "type": "message",
        "payload": {"messages": [{"role": role, "content": content}]},
        "session_id": session,
        "occurred_at": (NOW - timedelta(days=days_ago)).isoformat(),
    }


CONVERSATION = [
    _turn("s-11", "user", "Hi, our invoices show the wrong VAT number.", 6),
    _turn("s-11", "assistant", "Fixed: the VAT number on your invoices is updated.", 5.9),
    _turn("s-12", "user", "The Salesforce sync failed overnight, third time this month.", 3),
    _turn("s-12", "assistant", "Sorry about that, I have escalated it to engineering.", 2.9),
    _turn("s-12", "user", "Still not fixed. If it's not solved by Friday we will cancel.", 1),
]


async def test_bob_threatening_to_cancel_is_not_healthy(api: httpx.AsyncClient) -> None:
    created = await api.post("/v1/episodes/batch", json={"episodes": CONVERSATION})
    assert created.status_code == 201, created.text
    threat_id = created.json()["episodes"][-1]["id"]
    for session, status in (("s-11", "resolved"), ("s-12", "unresolved")):
        body = {"subject_id": SUBJECT, "session_id": session, "status": status}
        assert (await api.post("/v1/resolutions", json=body)).status_code == 200

    response = await api.get(f"/v1/subjects/{SUBJECT}/health")
    assert response.status_code == 200, response.text
    health = response.json()
    Health.model_validate(health)  # the SDK still reads it
    assert health["state"] != "healthy" and health["score"] < 70
    factors = {f["signal"]: f for f in health["factors"]}
    assert {"churn_threat", "repeat_contact", "still_unresolved"} <= set(factors)
    churn = factors["churn_threat"]
    assert churn["impact"] == -35
    when = (NOW - timedelta(days=1)).strftime("%Y-%m-%d")
    assert "we will cancel" in churn["detail"] and f"on {when}, session s-12" in churn["detail"]
    (evidence,) = churn["evidence"]
    assert evidence["episode_id"] == threat_id and evidence["session_id"] == "s-12"
    assert "we will cancel" in evidence["quote"]
    # Signals without phrases keep their old shape (an empty evidence list).
    assert all(f["evidence"] == [] for s, f in factors.items() if s == "recent_resolution")
