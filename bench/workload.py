"""Deterministic, support-like synthetic text for the benchmarks (no external data)."""

from __future__ import annotations

import random
from typing import Any

NAMES = ["Alice Novak", "Bruno Diaz", "Chen Wei", "Dana Okafor", "Emil Berg", "Farah Khan"]
EMPLOYERS = ["Globex", "Initech", "Umbrella Labs", "Hooli", "Stark Freight", "Acme Retail"]
PLANS = ["the Pro plan", "the Team plan", "the Enterprise tier", "the Starter plan"]
CITIES = ["Lisbon", "Toronto", "Nairobi", "Osaka", "Berlin", "Austin"]
PRODUCTS = [
    "billing dashboard",
    "mobile app",
    "REST API",
    "SSO login",
    "CSV export",
    "webhook delivery",
    "invoice PDF",
    "search page",
    "team invites",
    "audit log",
]
PROBLEMS = [
    "times out",
    "returns a 500 error",
    "shows the wrong currency",
    "is very slow",
    "logs me out",
    "drops the last row",
    "sends duplicate emails",
    "fails silently",
    "rejects my card",
    "shows a blank page",
]
WHEN = [
    "since yesterday",
    "after the last update",
    "every Monday morning",
    "on large accounts",
    "only on Safari",
    "when two admins edit at once",
    "after I renamed the workspace",
    "during the nightly sync",
]
ASKS = [
    "Can you refund the duplicate charge?",
    "How do I rotate the API key?",
    "Please escalate this to engineering.",
    "Is there a workaround for now?",
    "Can I get an invoice for last quarter?",
    "How do I export everything to CSV?",
    "Why was my account downgraded?",
    "Can you enable SSO for our domain?",
]
AGENT = [
    "Thanks, I've opened a ticket for the {p}.",
    "I can see the {p} issue in our logs.",
    "A fix for the {p} ships this week.",
    "Could you send a screenshot of the {p}?",
    "I've refunded the charge related to the {p}.",
    "Please clear the cache and retry the {p}.",
]


def profile(subject_id: str) -> random.Random:
    """A per-subject generator: a customer keeps one name, employer, plan and city."""
    return random.Random(subject_id)


def user_message(rng: random.Random, who: random.Random | None = None) -> str:
    product = rng.choice(PRODUCTS)
    parts = [f"The {product} {rng.choice(PROBLEMS)} {rng.choice(WHEN)}."]
    roll = rng.random()
    facts = who or rng
    state = facts.getstate()
    name, employer, plan, city = (
        facts.choice(NAMES),
        facts.choice(EMPLOYERS),
        facts.choice(PLANS),
        facts.choice(CITIES),
    )
    if who is not None:
        facts.setstate(state)  # the same profile every time
    if roll < 0.15:
        parts.insert(0, f"Hi, my name is {name}.")
    elif roll < 0.30:
        parts.insert(0, f"I work at {employer}.")
    elif roll < 0.40:
        parts.insert(0, f"We're on {plan}.")
    elif roll < 0.50:
        parts.insert(0, f"I'm based in {city}.")
    parts.append(rng.choice(ASKS))
    return " ".join(parts)


def agent_message(rng: random.Random) -> str:
    return rng.choice(AGENT).format(p=rng.choice(PRODUCTS))


def episode(
    rng: random.Random, subject_id: str, session_id: str, *, stable_profile: bool = False
) -> dict[str, Any]:
    """One support conversation turn (a user message and the agent's reply); with
    ``stable_profile`` the subject's self-descriptions never change between episodes."""
    who = profile(subject_id) if stable_profile else None
    return {
        "subject_id": subject_id,
        "source": "support-chat",
        "type": "conversation",
        "session_id": session_id,
        "payload": {
            "messages": [
                {"role": "user", "content": user_message(rng, who)},
                {"role": "assistant", "content": agent_message(rng)},
            ]
        },
        "metadata": {"channel": "chat", "bench": True},
    }


def memory_sentence(rng: random.Random) -> tuple[str, str]:
    """(kind, content) of a memory like the heuristic compiler writes."""
    roll = rng.random()
    if roll < 0.25:
        fact = rng.choice(
            [
                f"my name is {rng.choice(NAMES)}",
                f"I work at {rng.choice(EMPLOYERS)}",
                f"We're on {rng.choice(PLANS)}",
                f"I'm based in {rng.choice(CITIES)}",
                f"I use the {rng.choice(PRODUCTS)} daily",
            ]
        )
        return "profile_fact", fact
    if roll < 0.30:
        product = rng.choice(PRODUCTS)
        return "procedure", f"To fix the {product} when it {rng.choice(PROBLEMS)}: " + rng.choice(
            [
                "clear the cache and retry",
                "rotate the API key",
                "re-run the nightly sync",
                "ask an admin to re-invite the user",
                "switch to the CSV export",
            ]
        )
    return "episode_summary", f"user: {user_message(rng)}\nassistant: {agent_message(rng)}"


def task_text(rng: random.Random, index: int) -> str:
    """A varied task/query (distinct per index so the query-embedding cache never hits)."""
    product = rng.choice(PRODUCTS)
    templates = [
        "Customer says the {p} {x} {w}; what do we know about them?",
        "Help the user whose {p} {x}. Ticket #{i}.",
        "Draft a reply about the {p} that {x} {w} (case {i})",
        "Why does the {p} keep failing for this account? ref {i}",
        "Summarise previous issues with the {p} and any refunds, request {i}",
    ]
    return rng.choice(templates).format(
        p=product, x=rng.choice(PROBLEMS), w=rng.choice(WHEN), i=index
    )
