"""The platform's configuration: sites, skills, routing and the agent roster, read from `config/`.

Every file in the config directory is a YAML mapping whose single top-level key names the section
it holds (`sites:` in sites.yaml, `routing:` in routing.yaml, ...); `FILES` below is the table of
files and sections. Required files must exist; a missing optional file leaves its section at the
model's defaults. Files not in the table (scenarios, ...) are ignored here.

Validation is strict (`extra="forbid"`: a misspelt key is an error) and every error names the file,
the line and the reason: `config/agents.yaml:17: agents[16].skills.lsf: Input should be less than or
equal to 5`. To get there the YAML is composed into nodes, the Python data is built from them while
the start line of every node is recorded under its path, and pydantic's error locations (and the
cross-reference checks' paths) are mapped back to the deepest recorded path.

To add a section (calendar, services, ...): add a field to `Config` (with a default if the file is
optional) and a row to `FILES`.
"""

from acd.config.errors import ConfigError, KeyPath
from acd.config.loader import FILES, Section, load_config
from acd.config.model import MAX_SKILLS, Config
from acd.config.sections import (
    AGENT_ID_RULE,
    DEFAULT_SERVICE_HOURS,
    AgentConfig,
    AppointmentCapacity,
    AppointmentsConfig,
    CallbacksConfig,
    CallbackWindow,
    LocalService,
    OverflowConfig,
    RecordsConfig,
    RoutingConfig,
    ServicesConfig,
    Site,
    Skill,
    SurveysConfig,
    Widening,
    WideningStep,
)

__all__ = [
    "AGENT_ID_RULE",
    "DEFAULT_SERVICE_HOURS",
    "FILES",
    "MAX_SKILLS",
    "AgentConfig",
    "AppointmentCapacity",
    "AppointmentsConfig",
    "CallbackWindow",
    "CallbacksConfig",
    "Config",
    "ConfigError",
    "KeyPath",
    "LocalService",
    "OverflowConfig",
    "RecordsConfig",
    "RoutingConfig",
    "Section",
    "ServicesConfig",
    "Site",
    "Skill",
    "SurveysConfig",
    "Widening",
    "WideningStep",
    "load_config",
]
