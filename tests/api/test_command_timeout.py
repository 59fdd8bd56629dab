"""The outbox's delivery timeout is a setting (ACD_COMMAND_TIMEOUT_S)."""

from __future__ import annotations

import pytest


async def test_the_command_timeout_is_a_setting(make_platform) -> None:
    """ACD_COMMAND_TIMEOUT_S: a platform slower to acknowledge than the fixed 5 s got every
    command again and again (seen from outside: audit-outbox D5)."""
    from pydantic import ValidationError

    from acd.api.handlers import SERVICE
    from acd.settings import Settings

    platform = await make_platform(command_url="http://127.0.0.1:9/commands", command_timeout_s=12.5)
    assert platform.client.app[SERVICE].outbox._timeout_s == 12.5
    for bad in (0, -1, 301):
        with pytest.raises(ValidationError):
            Settings(command_timeout_s=bad)
