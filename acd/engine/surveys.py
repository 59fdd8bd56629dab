"""Post-call satisfaction surveys: after a configurable share of answered calls (per skill,
config/records.yaml), the `survey` command asks the platform to put the caller through the survey
when the call ends. Which calls is a hash of the call id, so a replay makes the same choice."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from acd.engine.records import Call
from acd.model import Command

if TYPE_CHECKING:
    from acd.engine.core import Engine

    _Base = Engine
else:
    _Base = object


def sampled(call_id: str, share: float) -> bool:
    """Whether the call falls in the sampled `share` (deterministic for a given call id)."""
    if share <= 0.0:
        return False
    if share >= 1.0:
        return True
    digest = hashlib.blake2b(call_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64 < share


class SurveyMixin(_Base):
    def _maybe_survey(self, call: Call, now: float, commands: list[Command]) -> None:
        """An answered call ended: send the survey command if the call is in the sample."""
        if call.answered_at is None or not sampled(
            call.id, self.config.records.surveys.share_for(call.skill)
        ):
            return
        decision = {"action": "survey", "call_id": call.id, "number": call.caller}
        self._record(call, now, decision)
        commands.append(self._command(call, "survey", decision, now))
