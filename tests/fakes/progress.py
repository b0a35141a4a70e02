"""The progress events both adapters send for one escalated two-tier request (small rejected, large accepted),
as (name, data): the adapters' progress tests expect the same sequence from one mapping of core events."""

from __future__ import annotations

from typing import Any

ESCALATED: list[tuple[str, dict[str, Any]]] = [
    ("automix.answer", {"tier": 0, "model": "small"}),
    ("automix.verified", {"tier": 0, "model": "small", "confidence": 0.0, "verdicts": [False, False]}),
    ("automix.decision", {"tier": 0, "model": "small", "action": "escalate", "target": 1, "target_model": "large",
                          "final": False}),
    ("automix.answer", {"tier": 1, "model": "large"}),
    ("automix.decision", {"tier": 1, "model": "large", "action": "accept", "target": 1, "target_model": "large",
                          "final": True}),
]
