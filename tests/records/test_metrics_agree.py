"""What /metrics says agrees with the records' indicators for the same calls (docs/records.md):
the queue wait histogram (the dashboard's ASA and service level) holds the waits of calls answered
directly, as `asa_s` does, never the hours between an accepted callback's call and its answer."""

from __future__ import annotations

import re
from datetime import datetime

from tests.records.test_records_day import PARIS, day_config
from tests.records.test_wallboard_agrees import evening_callback_answered_next_morning, indicators


def sample(text: str, name: str, **labels: str) -> float:
    """One sample of the exposition (0 when the series is absent)."""
    for line in text.splitlines():
        match = re.match(r"^(\w+)\{(.*)\} (\S+)$", line)
        if match is None or match.group(1) != name:
            continue
        got = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2)))
        if all(got.get(k) == v for k, v in labels.items()):
            return float(match.group(3))
    return 0.0


async def test_a_callback_answered_the_next_morning_is_no_queue_wait(make_platform, clock, backend):
    p = await make_platform(config=day_config(), **backend.settings())
    # 18:45: c2 waits 10 s and is answered directly
    clock.t = datetime(2026, 3, 2, 18, 45, tzinfo=PARIS).timestamp()
    assert (await p.offer("c2"))["action"] == "queue"
    clock.advance(10)
    await p.agent("a2", "available")
    await p.send("call.answered", call_id="c2", agent_id="a2")
    clock.advance(60)
    await p.send("call.ended", call_id="c2", reason="completed")
    await p.agent("a2", "logged_out")
    # 18:50: c1 waits 20 s and accepts a callback; 08:30 the next morning a1 calls c1 back:
    # answered, 13 h 40 min after the offer
    await evening_callback_answered_next_morning(p, clock)

    [day] = await indicators(p, "2026-03-02")
    assert (day["answered"], day["callbacks_answered"], day["asa_s"]) == (2, 1, 10.0)
    status, text = await p.request("GET", "/metrics", sign=False)
    assert status == 200
    answered = sum(
        sample(text, "acd_calls_answered_total", skill="impot_revenu", site=site) for site in ("lille", "pau")
    )
    assert answered == 2  # both count in the answer rate, as in the records
    waits = {"outcome": "answered", "skill": "impot_revenu"}
    count = sample(text, "acd_queue_wait_seconds_count", **waits)
    total = sample(text, "acd_queue_wait_seconds_sum", **waits)
    assert (count, total) == (1, 10.0)  # the ASA of the dashboard is the records' asa_s
    assert total / count == day["asa_s"]
