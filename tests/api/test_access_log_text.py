"""The access log in its text format (ACD_LOG_FORMAT=text) writes one line a request, whatever the
path: a percent-encoded line break or control character in the path (`/v1/calls/a%0A...`) is
written as the client sent it, encoded, never decoded into the line, where it would end the line
and forge the next one (log injection)."""

from __future__ import annotations

import logging

import pytest

from acd.logs import CappedFormatter

TEXT = CappedFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")


@pytest.mark.parametrize(
    "path",
    [
        "/v1/calls/a%0A2026-12-04 10:00:00,000 ERROR acd.api: forged",
        "/v1/calls/a%0D%0Aforged",
        "/nowhere%0Aforged%00%1B[31m",
        "/v1/agents/%E2%80%A8forged",  # a Unicode line separator
    ],
)
async def test_a_line_break_in_the_path_does_not_break_the_access_log_line(platform, caplog, path):
    with caplog.at_level(logging.INFO, logger="acd.access"):
        status, _ = await platform.request("GET", path)
    assert status == 404
    [record] = [r for r in caplog.records if r.name == "acd.access"]
    line = TEXT.format(record)
    assert len(line.splitlines()) == 1, line
    assert "\x00" not in line and "\x1b" not in line, line
    assert "forged" in line  # the path is still there, encoded
