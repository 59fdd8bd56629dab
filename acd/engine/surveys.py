"""Post-call satisfaction surveys: after a configurable share of answered calls (per skill,
config/records.yaml), the `survey` command asks the platform to put the caller through the survey
when the call ends (acd/engine/line.py's `_maybe_survey`). Which calls is a hash of the call id, so
a replay makes the same choice."""

from __future__ import annotations

import hashlib


def sampled(call_id: str, share: float) -> bool:
    """Whether the call falls in the sampled `share` (deterministic for a given call id)."""
    if share <= 0.0:
        return False
    if share >= 1.0:
        return True
    digest = hashlib.blake2b(call_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64 < share
