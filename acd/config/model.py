"""`Config`: the whole configuration, its cross-reference checks and lookups."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property

from pydantic import Field, model_validator

from acd.calendar import CalendarConfig
from acd.config.errors import KeyPath, _hint, _Located
from acd.config.sections import (
    AgentConfig,
    AppointmentsConfig,
    CallbacksConfig,
    OverflowConfig,
    RecordsConfig,
    RoutingConfig,
    ServicesConfig,
    Site,
    Skill,
    _Model,
)

#: The router keeps an agent's skills in a 64-bit mask.
MAX_SKILLS = 64


class Config(_Model):
    sites: list[Site]
    skills: list[Skill]
    routing: RoutingConfig = Field(default_factory=RoutingConfig)
    agents: list[AgentConfig]
    calendar: CalendarConfig = Field(default_factory=CalendarConfig)
    services: ServicesConfig = Field(default_factory=ServicesConfig)
    overflow: OverflowConfig = Field(default_factory=OverflowConfig)
    callbacks: CallbacksConfig = Field(default_factory=CallbacksConfig)
    appointments: AppointmentsConfig = Field(default_factory=AppointmentsConfig)
    records: RecordsConfig = Field(default_factory=RecordsConfig)

    @model_validator(mode="after")
    def _cross_checks(self) -> Config:
        issues: list[tuple[KeyPath, str]] = []

        def unique(section: str, items: Sequence[Site | Skill | AgentConfig]) -> set[str]:
            seen: dict[str, int] = {}
            for i, item in enumerate(items):
                if item.id in seen:
                    issues.append(
                        (
                            (section, i, "id"),
                            f"duplicate id {item.id!r} (first at {section}[{seen[item.id]}])",
                        )
                    )
                else:
                    seen[item.id] = i
            return set(seen)

        site_ids = unique("sites", self.sites)
        skill_ids = unique("skills", self.skills)
        if len(self.skills) > MAX_SKILLS:
            issues.append((("skills",), f"at most {MAX_SKILLS} skills, not {len(self.skills)}"))
        if not self.skills:
            issues.append((("skills",), "at least one skill is needed"))
        unique("agents", self.agents)
        for i, cap in enumerate(self.appointments.capacity):
            if cap.site not in site_ids:
                issues.append(
                    (
                        ("appointments", "capacity", i, "site"),
                        f"unknown site {cap.site!r}{_hint(cap.site, site_ids)}",
                    )
                )
            if cap.skill not in skill_ids:
                issues.append(
                    (
                        ("appointments", "capacity", i, "skill"),
                        f"unknown skill {cap.skill!r}{_hint(cap.skill, skill_ids)}",
                    )
                )
        departments: dict[str, int] = {}
        service_ids: dict[str, int] = {}
        for i, service in enumerate(self.services.local):
            if service.id in service_ids:
                issues.append((("services", "local", i, "id"), f"duplicate id {service.id!r}"))
            service_ids.setdefault(service.id, i)
            if service.department in departments:
                issues.append(
                    (
                        ("services", "local", i, "department"),
                        f"department {service.department} already has a service (services.local"
                        f"[{departments[service.department]}])",
                    )
                )
            departments.setdefault(service.department, i)
            for skill in service.skills or ():
                if skill not in skill_ids:
                    issues.append(
                        (
                            ("services", "local", i, "skills"),
                            f"unknown skill {skill!r}{_hint(skill, skill_ids)}",
                        )
                    )
        for skill in self.services.default_skills or ():
            if skill not in skill_ids:
                issues.append(
                    (("services", "default_skills"), f"unknown skill {skill!r}{_hint(skill, skill_ids)}")
                )
        for skill in self.routing.widening.by_skill:
            if skill not in skill_ids:
                issues.append(
                    (
                        ("routing", "widening", "by_skill", skill),
                        f"unknown skill {skill!r}{_hint(skill, skill_ids)}",
                    )
                )
        for skill in self.records.surveys.by_skill:
            if skill not in skill_ids:
                issues.append(
                    (
                        ("records", "surveys", "by_skill", skill),
                        f"unknown skill {skill!r}{_hint(skill, skill_ids)}",
                    )
                )
        for i, agent in enumerate(self.agents):
            if agent.site not in site_ids:
                issues.append(
                    (("agents", i, "site"), f"unknown site {agent.site!r}{_hint(agent.site, site_ids)}")
                )
            for skill in agent.skills:
                if skill not in skill_ids:
                    issues.append(
                        (("agents", i, "skills", skill), f"unknown skill {skill!r}{_hint(skill, skill_ids)}")
                    )
        if issues:
            raise _Located(issues)
        return self

    # -- helpers

    @cached_property
    def site_by_id(self) -> dict[str, Site]:
        """Sites by id."""
        return {s.id: s for s in self.sites}

    @cached_property
    def skill_by_id(self) -> dict[str, Skill]:
        """Skills by id."""
        return {s.id: s for s in self.skills}

    @cached_property
    def skill_index(self) -> dict[str, int]:
        """Skill id -> row (0..63), in file order."""
        return {s.id: i for i, s in enumerate(self.skills)}

    def widening_for(self, skill_id: str) -> list[tuple[float, int]]:
        """The widening steps for calls of `skill_id` as (after_s, min_level), by increasing after_s."""
        widening = self.routing.widening
        steps = widening.by_skill.get(skill_id, widening.default)
        return [(float(s.after_s), int(s.min_level)) for s in steps]
