"""The agent ids `PUT /v1/agents/{agent_id}` creates are ids every client can address afterwards:
`.` and `..` are dot segments most HTTP clients and proxies remove from a path (RFC 3986 5.2.4:
`/v1/agents/..` becomes `/v1/`), so an agent named so could never be read or changed again
(outside audit, api D8). They, and ids with a slash, a control character, only whitespace, or
over 64 characters, are a 422 invalid_agent that creates nothing; every id of the shipped roster
stays valid."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from yarl import URL

from acd.api.openapi import ROSTER_ID_PATTERN
from acd.signing import signed_headers
from tests.api.conftest import SECRET
from tests.api.test_bad_input import assert_error

BODY = {"site": "lille", "skills": {"lsf": 1}, "target": "sip:x@lille.example"}
ROOT = Path(__file__).resolve().parents[2]


async def put_raw(platform, raw_path: str):
    """PUT to the path as written, not normalised (as curl --path-as-is, or a raw client, sends it)."""
    data = json.dumps(BODY).encode()
    headers = {"Content-Type": "application/json", **signed_headers(SECRET.encode(), data)}
    url = URL(str(platform.client.make_url("")) + raw_path, encoded=True)
    resp = await platform.client.session.put(url, data=data, headers=headers)
    return resp.status, await resp.json()


async def agent_ids(platform) -> list[str]:
    status, body = await platform.get("/v1/agents")
    assert status == 200
    return [a["agent_id"] for a in body["agents"]]


@pytest.mark.parametrize(
    "raw_id",
    [
        ".",
        "..",
        "%2e",
        "%2E%2E",
        "a%2Fb",  # a slash
        "%2F",
        "a%00b",  # control characters
        "%09",
        "%20",  # only whitespace
        "%20%20",
        "x" * 65,  # over 64 characters
        "x" * 5000,
    ],
)
async def test_an_agent_id_a_client_cannot_address_is_refused_and_creates_nothing(platform, raw_id):
    before = await agent_ids(platform)
    status, err = await put_raw(platform, f"/v1/agents/{raw_id}")
    assert_error(status, err, 422, "invalid_agent")
    assert err["error"]["details"] == {"field": "agent_id"}
    assert len(err["error"]["message"]) < 400
    assert await agent_ids(platform) == before


@pytest.mark.parametrize("agent_id", ["...", "a.b", ".a", "a..", "lille-0001", "A_1", "x" * 64])
async def test_an_id_with_dots_that_is_no_dot_segment_is_an_agent(platform, agent_id):
    status, body = await put_raw(platform, f"/v1/agents/{agent_id}")
    assert status == 201, body
    status, got = await platform.get(f"/v1/agents/{agent_id}")
    assert status == 200 and got["agent_id"] == agent_id


def test_every_id_of_the_shipped_roster_is_valid_and_the_document_says_which_are():
    roster = yaml.safe_load((ROOT / "config" / "agents.yaml").read_text())
    ids = [a["id"] for a in (roster["agents"] if isinstance(roster, dict) else roster)]
    assert len(ids) > 700
    assert all(re.search(ROSTER_ID_PATTERN, i) for i in ids)
    assert not any(re.search(ROSTER_ID_PATTERN, i) for i in [".", "..", "a/b", " ", "x" * 65])
