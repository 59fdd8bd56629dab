"""Signing rules, both directions: HMAC-SHA256 over `<timestamp>.<body>`, 300 s of clock skew."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from acd.signing import (
    MAX_SKEW_S,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SignatureError,
    sign,
    signed_headers,
    verify,
)

SECRET = b"topsecret"
BODY = b'{"id":"c1","command":"connect"}'
T = 1_700_000_000


def code_of(**overrides: object) -> str:
    args: dict[str, object] = {
        "secret": SECRET,
        "timestamp": str(T),
        "signature": sign(SECRET, T, BODY),
        "body": BODY,
        "now": T,
    }
    args.update(overrides)
    with pytest.raises(SignatureError) as caught:
        verify(**args)  # type: ignore[arg-type]
    assert caught.value.message
    return caught.value.code


def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    by_hand = hmac.new(SECRET, f"{T}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, T, BODY) == f"sha256={by_hand}"
    # the same vector from `openssl dgst -sha256 -hmac topsecret`, pinned
    assert by_hand == "95a51e8666871aca3cdd92d38d8f7d2ee58f88881877eec8f5b08e92dc21ac7e"


@pytest.mark.parametrize("key_len", [0, 1, 32, 63, 64, 65, 131, 1000])
@pytest.mark.parametrize("body", [b"", BODY, bytes(range(256)) * 300])
def test_signature_is_hmac_sha256_for_every_secret_length(key_len: int, body: bytes) -> None:
    # keys shorter than, equal to and longer than SHA-256's 64-byte block (a longer one is hashed
    # first, RFC 2104), against the standard library's HMAC
    secret = bytes((7 * i + 3) % 256 for i in range(key_len))
    by_hand = hmac.new(secret, f"{T}.".encode() + body, hashlib.sha256).hexdigest()
    assert sign(secret, T, body) == f"sha256={by_hand}"
    assert sign(secret, T, body) == f"sha256={by_hand}"  # the keyed states are copied, never moved


def test_a_signature_made_by_sign_verifies() -> None:
    verify(SECRET, str(T), sign(SECRET, T, BODY), BODY, now=T)


def test_signed_headers_verify_against_the_wall_clock() -> None:
    headers = signed_headers(SECRET, BODY)
    assert headers[SIGNATURE_HEADER].startswith("sha256=")
    verify(SECRET, headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER], BODY)


def test_signed_headers_stamp_the_given_time_in_whole_seconds() -> None:
    headers = signed_headers(SECRET, BODY, now=T + 0.9)
    assert headers == {TIMESTAMP_HEADER: str(T), SIGNATURE_HEADER: sign(SECRET, T, BODY)}


def test_wrong_secret_is_a_bad_signature() -> None:
    assert code_of(signature=sign(b"other", T, BODY)) == "bad_signature"


def test_altered_body_is_a_bad_signature() -> None:
    assert code_of(body=BODY.replace(b"c1", b"c2")) == "bad_signature"


def test_signature_for_another_timestamp_is_a_bad_signature() -> None:
    assert code_of(timestamp=str(T + 1)) == "bad_signature"


def test_signature_without_the_sha256_scheme_is_a_bad_signature() -> None:
    assert code_of(signature=sign(SECRET, T, BODY).removeprefix("sha256=")) == "bad_signature"


def test_non_ascii_signature_is_a_bad_signature_not_a_crash() -> None:
    assert code_of(signature="sha256=é") == "bad_signature"


@pytest.mark.parametrize("field", ["timestamp", "signature"])
@pytest.mark.parametrize("value", [None, ""])
def test_missing_header_is_a_missing_signature(field: str, value: str | None) -> None:
    assert code_of(**{field: value}) == "missing_signature"


@pytest.mark.parametrize("skew", [MAX_SKEW_S + 1, -(MAX_SKEW_S + 1)])
def test_timestamp_too_far_from_now_either_way_is_stale(skew: int) -> None:
    assert code_of(now=T + skew) == "stale_timestamp"


@pytest.mark.parametrize("skew", [MAX_SKEW_S, -MAX_SKEW_S])
def test_timestamp_at_the_edge_of_the_window_is_accepted(skew: int) -> None:
    verify(SECRET, str(T), sign(SECRET, T, BODY), BODY, now=T + skew)


def test_the_skew_window_is_configurable() -> None:
    assert code_of(now=T + 11, max_skew_s=10) == "stale_timestamp"


@pytest.mark.parametrize("garbage", ["abc", "1.5e9", "17000000.5", "-5", "0x10", "1_700_000_000"])
def test_non_integer_timestamp_is_a_bad_timestamp(garbage: str) -> None:
    assert code_of(timestamp=garbage) == "bad_timestamp"


def test_signature_error_carries_code_and_message() -> None:
    err = SignatureError("bad_signature", "nope")
    assert (err.code, err.message, str(err)) == ("bad_signature", "nope", "nope")
