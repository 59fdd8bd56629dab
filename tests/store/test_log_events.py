"""The trusted replay's decoder (acd/store/log_events.py): the events the log holds, decoded into
plain structs, carry every field's value as the models decode them, for every event type; what
does not fit the mirrors (an unknown field or type, a missing required field) is left to the
models. The engine applies both alike."""

from __future__ import annotations

import pytest

from acd.engine import Engine
from acd.engine.state import dump
from acd.events import any_event_adapter
from acd.store import log_events
from acd.store.redis.forwarding import EVENTS
from tests.conftest import T0, small_config
from tests.engine.test_events_and_state import EVERY_EVENT


def _models(bodies):
    return [
        any_event_adapter.validate_python({"id": f"e{i}", "ts": "2026-03-02T10:00:00.25+01:00", **b})
        for i, b in enumerate(bodies)
    ]


def _fields(event, names):
    return {name: getattr(event, name) for name in names}


@pytest.mark.parametrize("body", EVERY_EVENT, ids=lambda b: b["type"])
def test_a_logged_event_decodes_to_the_values_the_model_holds(body) -> None:
    [model] = _models([body])
    [struct] = log_events.decode(EVENTS.dump_json([model]))
    names = list(type(model).model_fields)
    assert _fields(struct, names) == _fields(model, names)
    assert struct.type == model.type
    for name in names:  # instants: the same instant, the same offset
        value = getattr(model, name)
        if hasattr(value, "utcoffset"):
            assert getattr(struct, name).timestamp() == value.timestamp()
            assert getattr(struct, name).utcoffset() == value.utcoffset()


def test_every_event_type_has_its_mirror() -> None:
    assert set(log_events.MIRRORS) == {b["type"] for b in EVERY_EVENT}


@pytest.mark.parametrize(
    "raw",
    [
        b'[{"id":"e1","ts":null,"type":"call.ended","call_id":"c1","reason":"completed","extra":1}]',
        b'[{"id":"e1","ts":null,"type":"call.vanished","call_id":"c1"}]',
        b'[{"id":"e1","ts":null,"type":"call.ended","reason":"completed"}]',
        b'[{"id":"e1","ts":null,"type":"call.ended","call_id":"c1","reason":"lost"}]',
        b"not json",
    ],
    ids=["unknown field", "unknown type", "missing field", "unknown value", "not json"],
)
def test_what_does_not_fit_the_mirrors_is_left_to_the_models(raw) -> None:
    assert log_events.decode(raw) is None


def test_a_field_an_earlier_release_did_not_write_takes_its_default() -> None:
    raw = b'[{"id":"e1","ts":null,"type":"callback.result","callback_id":"cb1","outcome":"busy"}]'
    [struct] = log_events.decode(raw)
    [model] = EVENTS.validate_json(raw)
    assert struct.originate_id is None is model.originate_id


def test_the_engine_applies_structs_as_it_applies_the_models(router_kind) -> None:
    """The same batches, applied as the models and as the structs (digests given, as a replay
    does): the same results and the same state."""
    config = small_config()
    bodies = [
        {"type": "agent.state", "agent_id": "a1", "state": "available"},
        {"type": "call.offered", "call_id": "c1", "caller": "+33612345678", "skill": "paiement"},
        {
            "type": "call.offered",
            "call_id": "c2",
            "caller": "+33612345679",
            "skill": "paiement",
            "priority": 3,
            "department": "59",
        },
        {"type": "call.answered", "call_id": "c1", "agent_id": "a1"},
        {"type": "call.ended", "call_id": "c1", "reason": "completed"},
        {"type": "call.ended", "call_id": "c2", "reason": "abandoned"},
    ]
    models = _models(bodies)
    structs = log_events.decode(EVENTS.dump_json(models))
    one, two = Engine(config, router=router_kind), Engine(config, router=router_kind)
    now = T0 + 60
    for model, struct in zip(models, structs, strict=True):
        first, _ = one.apply([model], now, trusted=True)
        second, _ = two.apply([struct], now, trusted=True, digests=one.digests_of([model]))
        assert first == second
        now += 5
    assert dump(one) == dump(two)  # the whole state, remembered digests included
