"""The shipped configuration and the loader's validation: every error names the file, the line and
the reason."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from acd.config import (
    FILES,
    AgentConfig,
    Config,
    ConfigError,
    RoutingConfig,
    Site,
    Skill,
    Widening,
    load_config,
)

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "config"

CONTRACT_SITES = {
    "charleville-mezieres",
    "carcassonne",
    "angouleme",
    "valence",
    "chartres",
    "brest",
    "montpellier",
    "tours",
    "angers",
    "nancy",
    "nevers",
    "lille",
    "lens",
    "pau",
    "strasbourg",
    "lyon",
    "le-mans",
    "rouen",
    "amiens",
    "vesoul",
}
CONTRACT_SKILLS = ["impot_revenu", "prelevement_source", "paiement", "espace_particulier", "lsf"]


@pytest.fixture(scope="module")
def shipped() -> Config:
    return load_config(CONFIG)


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    """A writable copy of the shipped configuration files."""
    for section in FILES:
        if (CONFIG / section.file).exists():
            shutil.copy(CONFIG / section.file, tmp_path / section.file)
    return tmp_path


def edit(config_dir: Path, file: str, old: str, new: str) -> int:
    """Replace the first `old` in `file` by `new`; return the 1-based line where it was."""
    path = config_dir / file
    text = path.read_text(encoding="utf-8")
    at = text.index(old)
    path.write_text(text[:at] + new + text[at + len(old) :], encoding="utf-8")
    return text.count("\n", 0, at) + 1


def error_of(config_dir: Path) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_config(config_dir)
    return info.value


def assert_error(err: ConfigError, config_dir: Path, file: str, line: int | None, *fragments: str) -> None:
    assert err.file == str(config_dir / file), str(err)
    assert err.line == line, str(err)
    for fragment in fragments:
        assert fragment in err.reason, str(err)
    expected = f"{config_dir / file}:{line}: {err.reason}" if line else f"{config_dir / file}: {err.reason}"
    assert str(err) == expected


# -- the shipped configuration


def test_shipped_sites_are_exactly_the_contract_sites(shipped: Config) -> None:
    assert {s.id for s in shipped.sites} == CONTRACT_SITES
    assert len(shipped.sites) == 20
    assert shipped.site_by_id["charleville-mezieres"].name == "Charleville-Mézières"
    assert shipped.site_by_id["charleville-mezieres"].department == "08"
    assert shipped.site_by_id["vesoul"].department == "70"
    for site in shipped.sites:
        assert site.timezone == "Europe/Paris"
        assert site.sip_domain.endswith(".example")


def test_shipped_skills_are_the_five_contract_skills(shipped: Config) -> None:
    assert [s.id for s in shipped.skills] == CONTRACT_SKILLS
    assert shipped.skill_index == {s: i for i, s in enumerate(CONTRACT_SKILLS)}
    aht = {s.id: s.default_aht_s for s in shipped.skills}
    assert all(240 <= aht[s] <= 480 for s in CONTRACT_SKILLS[:4])
    assert aht["lsf"] > aht["impot_revenu"]


def test_shipped_roster_has_about_800_agents_at_every_site(shipped: Config) -> None:
    assert 750 <= len(shipped.agents) <= 850
    per_site = {s: 0 for s in CONTRACT_SITES}
    for agent in shipped.agents:
        per_site[agent.site] += 1
    assert all(20 <= n <= 70 for n in per_site.values()), per_site
    assert max(per_site, key=per_site.__getitem__) in {"lille", "lyon", "strasbourg", "montpellier", "rouen"}


def test_shipped_roster_levels_are_1_to_5_and_targets_are_the_sites_sip_uris(shipped: Config) -> None:
    for agent in shipped.agents:
        assert agent.skills
        assert all(1 <= level <= 5 for level in agent.skills.values())
        assert agent.target == f"sip:{agent.id}@{shipped.site_by_id[agent.site].sip_domain}"
        assert agent.id.startswith(agent.site + "-")


def test_shipped_roster_has_a_few_lsf_interpreters_who_also_take_tax_calls(shipped: Config) -> None:
    lsf = [a for a in shipped.agents if "lsf" in a.skills]
    assert 10 <= len(lsf) <= 15
    assert 2 <= len({a.site for a in lsf}) <= 6
    assert all("impot_revenu" in a.skills for a in lsf)


def test_shipped_roster_skill_mix_is_mostly_tax(shipped: Config) -> None:
    n = len(shipped.agents)
    count = {s: sum(s in a.skills for a in shipped.agents) for s in CONTRACT_SKILLS}
    assert count["impot_revenu"] > 0.7 * n and count["prelevement_source"] > 0.7 * n
    assert 0.15 * n < count["paiement"] < 0.6 * n
    assert 0.15 * n < count["espace_particulier"] < 0.6 * n
    for site in CONTRACT_SITES:  # every site covers the four tax skills
        here = [a for a in shipped.agents if a.site == site]
        assert all(any(s in a.skills for a in here) for s in CONTRACT_SKILLS[:4]), site


def test_shipped_routing_is_work_conserving_and_gives_a_call_to_the_longest_idle(shipped: Config) -> None:
    """No widening step above level 1 (tests/engine/test_shipped_routing.py drives it)."""
    assert shipped.routing.strategy == "longest_idle"
    for skill in shipped.skills:
        assert shipped.widening_for(skill.id) == [(0.0, 1)]
    assert shipped.routing.rona_pause is True


def test_shipped_roster_is_what_make_roster_generates() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "make_roster.py"), "--check"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


def test_make_roster_is_deterministic(tmp_path: Path) -> None:
    for name in ("a.yaml", "b.yaml"):
        subprocess.run(
            [sys.executable, str(ROOT / "tools" / "make_roster.py"), "--output", str(tmp_path / name)],
            check=True,
            capture_output=True,
        )
    assert (tmp_path / "a.yaml").read_text() == (tmp_path / "b.yaml").read_text()


# -- errors: file, line, reason


def test_yaml_syntax_error_reports_file_and_line(cfg: Path) -> None:
    line = edit(cfg, "skills.yaml", "name: Paiement (", "name: Paiement: (")
    assert_error(error_of(cfg), cfg, "skills.yaml", line, "YAML syntax error")


def test_unclosed_flow_mapping_in_roster_is_a_syntax_error_in_agents_yaml(cfg: Path) -> None:
    edit(cfg, "agents.yaml", 'acd.example"}\n', 'acd.example"\n')
    err = error_of(cfg)
    assert err.file == str(cfg / "agents.yaml")
    assert err.line is not None and "YAML syntax error" in err.reason


def test_unknown_key_reports_its_line_and_suggests_the_right_one(cfg: Path) -> None:
    line = edit(cfg, "sites.yaml", "    sip_domain: lille", "    sip_domian: lille")
    err = error_of(cfg)
    assert_error(
        err, cfg, "sites.yaml", line, "sites[11].sip_domian: unknown key", "did you mean 'sip_domain'"
    )
    assert any("missing key 'sip_domain'" in reason for _, _, reason in err.issues)


def test_unknown_key_in_routing_is_an_error(cfg: Path) -> None:
    line = edit(cfg, "routing.yaml", "  wrap_up_s: 30", "  wrapup_s: 30")
    assert_error(error_of(cfg), cfg, "routing.yaml", line, "routing.wrapup_s: unknown key", "'wrap_up_s'")


def test_unknown_top_level_key_is_an_error(cfg: Path) -> None:
    line = edit(cfg, "agents.yaml", "agents:\n", "agent:\n")
    assert_error(error_of(cfg), cfg, "agents.yaml", line, "unknown top-level key 'agent'")


def test_wrong_type_reports_file_and_line(cfg: Path) -> None:
    line = edit(cfg, "routing.yaml", "  wrap_up_s: 30", "  wrap_up_s: thirty")
    assert_error(
        error_of(cfg), cfg, "routing.yaml", line, "routing.wrap_up_s: Input should be a valid number"
    )


def test_unquoted_department_is_a_wrong_type_with_a_hint(cfg: Path) -> None:
    line = edit(cfg, "sites.yaml", 'department: "59"', "department: 59")
    assert_error(error_of(cfg), cfg, "sites.yaml", line, "sites[11].department", "quoted string", '"59"')


def test_bad_department_code_is_rejected(cfg: Path) -> None:
    line = edit(cfg, "sites.yaml", 'department: "59"', 'department: "96"')
    assert_error(error_of(cfg), cfg, "sites.yaml", line, "sites[11].department: String should match pattern")


def test_level_6_reports_the_agents_line(cfg: Path, shipped: Config) -> None:
    index, agent = next((i, a) for i, a in enumerate(shipped.agents) if "lsf" in a.skills)
    text = (cfg / "agents.yaml").read_text()
    line = text[: text.index(f"{{id: {agent.id},")].count("\n") + 1
    old = f'lsf: {agent.skills["lsf"]}}}, target: "sip:{agent.id}@'
    assert edit(cfg, "agents.yaml", old, old.replace(f"lsf: {agent.skills['lsf']}", "lsf: 6")) == line
    err = error_of(cfg)
    reason = f"agents[{index}].skills.lsf: Input should be less than or equal to 5"
    assert str(err) == f"{cfg / 'agents.yaml'}:{line}: {reason}"


def test_boolean_level_is_a_wrong_type(cfg: Path) -> None:
    line = edit(cfg, "agents.yaml", "impot_revenu: 3", "impot_revenu: yes")
    assert_error(
        error_of(cfg), cfg, "agents.yaml", line, ".skills.impot_revenu: Input should be a valid integer"
    )


def test_unknown_site_in_an_agent_reports_its_line(cfg: Path) -> None:
    line = edit(cfg, "agents.yaml", "site: lille,", "site: lile,")
    assert_error(
        error_of(cfg), cfg, "agents.yaml", line, ".site: unknown site 'lile'", "did you mean 'lille'"
    )


def test_unknown_skill_in_an_agent_reports_its_line(cfg: Path) -> None:
    line = edit(cfg, "agents.yaml", "paiement: ", "paiment: ")
    assert_error(error_of(cfg), cfg, "agents.yaml", line, ".skills.paiment: unknown skill 'paiment'")


def test_unknown_skill_of_the_local_services_reports_its_line(cfg: Path) -> None:
    line = edit(cfg, "services.yaml", "  default_skills: [impot_revenu,", "  default_skills: [impot_revenus,")
    assert_error(
        error_of(cfg), cfg, "services.yaml", line, "services.default_skills: unknown skill 'impot_revenus'"
    )


def test_unknown_skill_of_one_local_service_reports_its_line(cfg: Path) -> None:
    line = edit(cfg, "services.yaml", "capacity: 4}", "capacity: 4, skills: [lfs]}")
    assert_error(
        error_of(cfg), cfg, "services.yaml", line, "skills: unknown skill 'lfs'", "did you mean 'lsf'"
    )


@pytest.mark.parametrize(
    ("written", "mode"), [("on", "on"), ("off", "off"), ('"on"', "on"), ("auto", "auto")]
)
def test_the_overflow_switch_reads_as_written_though_yaml_reads_on_as_true(cfg: Path, written, mode) -> None:
    """`mode: on` is what the file's comment says to write; YAML 1.1 reads it as a boolean."""
    edit(cfg, "overflow.yaml", "  mode: auto", f"  mode: {written}")
    assert load_config(cfg).overflow.mode == mode


def test_the_overflow_switch_refuses_another_word(cfg: Path) -> None:
    line = edit(cfg, "overflow.yaml", "  mode: auto", "  mode: yes please")
    assert_error(
        error_of(cfg), cfg, "overflow.yaml", line, "overflow.mode: Input should be 'auto', 'on' or 'off'"
    )


def test_a_time_of_day_written_bare_says_to_quote_it(cfg: Path) -> None:
    """YAML 1.1 reads 13:00 unquoted as 780 (base 60); the error says so at its line."""
    line = edit(cfg, "appointments.yaml", 'afternoon_from: "13:00"', "afternoon_from: 13:00")
    assert_error(
        error_of(cfg),
        cfg,
        "appointments.yaml",
        line,
        'afternoon_from: a time of day is written in quotes: "13:00"',
    )


def test_a_callback_window_written_bare_says_to_quote_it(cfg: Path) -> None:
    line = edit(cfg, "callbacks.yaml", '{start: "17:30"', "{start: 17:30")
    assert_error(
        error_of(cfg), cfg, "callbacks.yaml", line, 'start: a time of day is written in quotes: "17:30"'
    )


#: Timed widening as a deployment opts in to it (the shipped routing widens nothing).
WIDENING_OPT_IN = """    by_skill:
      impot_revenu:
        - {after_s: 0, min_level: 4}
        - {after_s: 30, min_level: 2}
        - {after_s: 90, min_level: 1}
      prelevement_source:
        - {after_s: 0, min_level: 3}
        - {after_s: 45, min_level: 1}"""


def test_unknown_skill_in_widening_reports_its_line(cfg: Path) -> None:
    edit(cfg, "routing.yaml", "    by_skill: {}", WIDENING_OPT_IN)
    line = edit(cfg, "routing.yaml", "      prelevement_source:", "      prelevement_a_la_source:")
    assert_error(
        error_of(cfg),
        cfg,
        "routing.yaml",
        line,
        "routing.widening.by_skill.prelevement_a_la_source: unknown skill",
    )


def test_duplicate_agent_id_reports_the_second_one(cfg: Path) -> None:
    line = edit(cfg, "agents.yaml", "{id: lille-0002,", "{id: lille-0001,")
    assert_error(error_of(cfg), cfg, "agents.yaml", line, ".id: duplicate id 'lille-0001'")


def test_duplicate_site_id_is_an_error(cfg: Path) -> None:
    line = edit(cfg, "sites.yaml", "  - id: lens\n", "  - id: lille\n")
    assert_error(error_of(cfg), cfg, "sites.yaml", line, "sites[12].id: duplicate id 'lille'")


def test_duplicate_yaml_key_is_an_error(cfg: Path) -> None:
    line = edit(cfg, "routing.yaml", "  wrap_up_s: 30\n", "  wrap_up_s: 30\n  wrap_up_s: 45\n")
    assert_error(error_of(cfg), cfg, "routing.yaml", line + 1, "duplicate key 'wrap_up_s'")


def test_widening_not_starting_at_0_reports_the_step(cfg: Path) -> None:
    edit(cfg, "routing.yaml", "    by_skill: {}", WIDENING_OPT_IN)
    line = edit(cfg, "routing.yaml", "- {after_s: 0, min_level: 4}", "- {after_s: 10, min_level: 4}")
    assert_error(
        error_of(cfg),
        cfg,
        "routing.yaml",
        line,
        "by_skill.impot_revenu[0].after_s: the first step must have after_s: 0",
    )


def test_widening_steps_out_of_order_are_an_error(cfg: Path) -> None:
    edit(cfg, "routing.yaml", "    by_skill: {}", WIDENING_OPT_IN)
    line = edit(cfg, "routing.yaml", "- {after_s: 90, min_level: 1}", "- {after_s: 20, min_level: 1}")
    assert_error(error_of(cfg), cfg, "routing.yaml", line, "impot_revenu[2].after_s: after_s must increase")


def test_out_of_range_routing_value_is_an_error(cfg: Path) -> None:
    line = edit(cfg, "routing.yaml", "aht_smoothing: 0.05", "aht_smoothing: 0")
    assert_error(
        error_of(cfg), cfg, "routing.yaml", line, "routing.aht_smoothing: Input should be greater than 0"
    )


def test_agent_target_must_be_a_sip_uri(cfg: Path) -> None:
    line = edit(cfg, "agents.yaml", 'target: "sip:', 'target: "tel:')
    assert_error(error_of(cfg), cfg, "agents.yaml", line, ".target: String should match pattern")


@pytest.mark.parametrize(
    "bad", [r"sip:a@lyon\u0000.example", "sip:léa@lyon.example", r"sip:a\u200b@x", r"sip:a\tb"]
)
def test_agent_targets_are_sip_uris_in_visible_ascii(cfg: Path, bad: str) -> None:
    """Targets go out in every connect and originate command: a NUL, a control or an invisible
    character, or a non-ASCII one (RFC 3261 percent-encodes them) is refused, as the API refuses
    it in a roster upsert (the pattern was sips?:\\S+, which let them through). YAML's double
    quotes read the escapes."""
    text = (cfg / "agents.yaml").read_text(encoding="utf-8")
    start = text.index('target: "') + len('target: "')
    end = text.index('"', start)
    (cfg / "agents.yaml").write_text(text[:start] + bad + text[end:], encoding="utf-8")
    line = text.count("\n", 0, start) + 1
    assert_error(error_of(cfg), cfg, "agents.yaml", line, ".target: String should match pattern")


def test_agent_without_skills_is_an_error(cfg: Path) -> None:
    text = (cfg / "agents.yaml").read_text()
    start = text.index("{id: lyon-0001,")
    skills_at = text.index("skills: {", start)
    end = text.index("}", skills_at)
    (cfg / "agents.yaml").write_text(text[: skills_at + 9] + text[end:])
    line = text.count("\n", 0, start) + 1
    assert_error(error_of(cfg), cfg, "agents.yaml", line, ".skills: Dictionary should have at least 1 item")


def test_missing_required_file_is_an_error(cfg: Path) -> None:
    (cfg / "skills.yaml").unlink()
    assert_error(error_of(cfg), cfg, "skills.yaml", None, "required file is missing")


def test_empty_required_file_is_an_error(cfg: Path) -> None:
    (cfg / "sites.yaml").write_text("# nothing yet\n")
    assert_error(error_of(cfg), cfg, "sites.yaml", 1, "empty")


def test_missing_optional_file_gives_the_defaults(cfg: Path) -> None:
    (cfg / "routing.yaml").unlink()
    config = load_config(cfg)
    assert config.routing == RoutingConfig()
    assert config.routing.strategy == "longest_idle"
    assert config.routing.rona_pause is True
    assert config.widening_for("impot_revenu") == [(0.0, 1)]


def test_optional_section_with_every_key_commented_out_gives_the_defaults(cfg: Path) -> None:
    (cfg / "routing.yaml").write_text("routing:\n  # strategy: skill_level\n")
    assert load_config(cfg).routing == RoutingConfig()


def test_routing_keys_left_out_take_their_defaults(cfg: Path) -> None:
    (cfg / "routing.yaml").write_text("routing:\n  strategy: skill_level\n")
    routing = load_config(cfg).routing
    assert routing.strategy == "skill_level"
    assert routing.wrap_up_s == 30 and routing.widening == Widening()


# -- the models on their own (the API validates roster upserts with AgentConfig)


def test_agent_config_validates_level_and_target() -> None:
    AgentConfig(id="a.b_c-1", site="lille", skills={"impot_revenu": 5}, target="sips:x@lille.sip.acd.example")
    with pytest.raises(ValidationError):
        AgentConfig(id="a", site="lille", skills={"impot_revenu": 0}, target="sip:a@x.example")
    with pytest.raises(ValidationError):
        AgentConfig(id="a b", site="lille", skills={"impot_revenu": 1}, target="sip:a@x.example")


def test_config_built_in_python_runs_the_cross_checks() -> None:
    site = Site(id="lille", name="Lille", department="59", sip_domain="lille.sip.acd.example")
    skill = Skill(id="impot_revenu", name="Impôt sur le revenu", default_aht_s=390)
    agent = AgentConfig(
        id="a", site="lille", skills={"impot_revenu": 3}, target="sip:a@lille.sip.acd.example"
    )
    Config(sites=[site], skills=[skill], agents=[agent])
    with pytest.raises(ValidationError, match="unknown site 'lyon'"):
        Config(sites=[site], skills=[skill], agents=[agent.model_copy(update={"site": "lyon"})])
    with pytest.raises(ValidationError, match="at most 64 skills"):
        many = [Skill(id=f"s{i}", name="s", default_aht_s=60) for i in range(65)]
        Config(sites=[site], skills=many, agents=[])


def test_a_callback_without_a_wait_between_attempts_is_refused_not_a_500_later(cfg: Path) -> None:
    """`retry_delays_s: []` passed `acd check-config`; the first no_answer then answered 500 and
    left the callback dialing for good (seen from outside: /work/notes/audit-config.md, D2). (An
    appointment's [] is one dial in its slot: taken.)"""
    line = edit(cfg, "callbacks.yaml", "  retry_delays_s: [600, 1800]", "  retry_delays_s: []")
    assert_error(error_of(cfg), cfg, "callbacks.yaml", line, "retry_delays_s", "at least 1")
    edit(cfg, "callbacks.yaml", "  retry_delays_s: []", "  retry_delays_s: [600]")
    edit(cfg, "appointments.yaml", "  retry_delays_s: [300, 300]", "  retry_delays_s: []")
    assert load_config(cfg).appointments.retry_delays_s == []


@pytest.mark.parametrize("value", ["1.0e-9", "0.5"])
def test_a_watchdog_running_more_than_once_a_second_is_refused(cfg: Path, value: str) -> None:
    """`watchdog_interval_s: 1e-9` passed `acd check-config`, then `Engine.tick` never returned
    (the watchdog re-armed at the same instant): the service froze (audit-config D3). 0 turns it
    off; otherwise at least a second."""
    line = edit(cfg, "routing.yaml", "  watchdog_interval_s: 60", f"  watchdog_interval_s: {value}")
    assert_error(error_of(cfg), cfg, "routing.yaml", line, "watchdog_interval_s", "at least 1")


@pytest.mark.parametrize("value", ["0", "1"])
def test_a_watchdog_off_or_once_a_second_is_taken(cfg: Path, value: str) -> None:
    edit(cfg, "routing.yaml", "  watchdog_interval_s: 60", f"  watchdog_interval_s: {value}")
    assert load_config(cfg).routing.watchdog_interval_s == float(value)
