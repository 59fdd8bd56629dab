"""A start that fails half-way leaves nothing running: the app's cleanup_ctx never stops a step
that did not start, so the service stops what it had started itself."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from acd.api.app import create_app
from acd.api.handlers import SERVICE
from acd.settings import Settings
from tests.conftest import small_config


async def test_a_store_that_fails_to_start_leaves_no_records_writer_running(tmp_path, clock):
    app = create_app(
        Settings(data_dir=str(tmp_path)), small_config(), registry=CollectorRegistry(), clock=clock
    )
    service = app[SERVICE]

    async def broken() -> None:
        raise RuntimeError("the store cannot start")

    service.store.start = broken  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="cannot start"):
        await service.start()
    assert service.records._task is None  # the writer was started, then stopped again
