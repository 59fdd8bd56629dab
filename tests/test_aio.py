"""acd.aio: the loop guard against a swallowed cancellation, and the background steps."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import pytest

from acd.aio import Background, cancel_and_wait, still_running


async def test_still_running_raises_the_cancellation_a_library_swallowed() -> None:
    reached_guard = asyncio.Event()

    async def loop_that_swallows() -> None:
        while True:
            # what Python 3.11's wait_for can do: the task stays marked as cancelling
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(3600)
            reached_guard.set()
            still_running()

    task = asyncio.create_task(loop_that_swallows())
    await asyncio.sleep(0)
    task.cancel()
    await asyncio.wait({task}, timeout=5)
    assert reached_guard.is_set()
    assert task.cancelled()


async def test_still_running_lets_a_task_nobody_cancelled_go_on() -> None:
    async def step() -> str:
        still_running()
        return "went on"

    assert await asyncio.create_task(step()) == "went on"


async def test_a_background_step_that_fails_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    background = Background(logging.getLogger("acd.test"), "a step")

    async def fails() -> None:
        raise RuntimeError("boom")

    with caplog.at_level(logging.DEBUG, logger="acd.test"):
        background.spawn(fails())
        await asyncio.sleep(0.01)
    assert not background.tasks
    assert "a step failed: boom" in caplog.text


async def test_cancel_and_wait_ends_every_task_and_skips_none() -> None:
    tasks = [asyncio.create_task(asyncio.sleep(3600)) for _ in range(3)]
    await cancel_and_wait(None, *tasks)
    assert all(t.cancelled() for t in tasks)
