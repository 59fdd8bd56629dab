"""Survey sampling: per skill from config/records.yaml (validated with file and line), and a
deterministic choice by call id, so a replay makes the same one."""

from __future__ import annotations

from pathlib import Path

from acd.config import load_config
from acd.engine import Engine
from acd.engine.surveys import sampled
from acd.events import any_event_adapter
from tests.conftest import T0, small_config
from tests.test_config import assert_error, cfg, edit, error_of  # noqa: F401  (the cfg fixture)


def test_survey_sampling_is_a_deterministic_share_of_call_ids():
    ids = [f"call-{i}" for i in range(20_000)]
    chosen = [i for i in ids if sampled(i, 0.2)]
    assert chosen == [i for i in ids if sampled(i, 0.2)]  # the same choice every time
    assert 0.18 < len(chosen) / len(ids) < 0.22
    assert not any(sampled(i, 0.0) for i in ids[:100]) and all(sampled(i, 1.0) for i in ids[:100])
    assert set(chosen) <= {i for i in ids if sampled(i, 0.5)}  # a larger share keeps the smaller's calls


def test_the_shipped_config_surveys_a_fifth_of_answered_calls():
    config = load_config(Path(__file__).resolve().parents[2] / "config")
    assert config.records.surveys.share_for("impot_revenu") == 0.2
    assert config.records.service_level_s == 60 and config.records.retention_days == 400


def test_the_survey_share_is_per_skill(router_kind):
    base = small_config(wrap_up_s=0).model_dump()
    base["records"] = {"surveys": {"share": 0.0, "by_skill": {"paiement": 1.0}}}
    engine = Engine(type(small_config()).model_validate(base), router=router_kind)

    n = 0

    def send(now, **fields):
        nonlocal n
        n += 1
        return engine.apply([any_event_adapter.validate_python({"id": f"e{n}", **fields})], now)[1]

    send(T0, type="agent.state", agent_id="a2", state="available")
    commands = []
    for i, skill in enumerate(["paiement", "impot_revenu"]):
        call = f"s{i}"
        send(T0 + 10 * i, type="call.offered", call_id=call, caller="+33612345678", skill=skill)
        send(T0 + 10 * i + 1, type="call.answered", call_id=call, agent_id="a2")
        commands += send(T0 + 10 * i + 5, type="call.ended", call_id=call, reason="completed")
    surveys = [c for c in commands if c.command == "survey"]
    assert [(c.fields["call_id"], c.fields["number"]) for c in surveys] == [("s0", "+33612345678")]


def test_an_unknown_skill_in_the_survey_shares_reports_its_line(cfg):  # noqa: F811
    line = edit(cfg, "records.yaml", "    by_skill: {}", "    by_skill:\n      impot_revnu: 0.5")
    assert_error(
        error_of(cfg), cfg, "records.yaml", line + 1, "records.surveys.by_skill.impot_revnu: unknown skill"
    )


def test_a_survey_share_above_one_reports_its_line(cfg):  # noqa: F811
    line = edit(cfg, "records.yaml", "    share: 0.2", "    share: 1.5")
    assert_error(error_of(cfg), cfg, "records.yaml", line, "records.surveys.share")
