"""Key format, hashing and URL handling: no database needed."""

from __future__ import annotations

import pytest

from db.database import to_async_url
from tenancy.keys import (
    MAX_TOKEN_CHARS,
    PREFIX_LENGTH,
    generate_api_key,
    hash_secret,
    parse_api_key,
    verify_secret,
)


def test_generated_key_round_trips() -> None:
    key = generate_api_key()
    assert key.full == f"ak_{key.prefix}_{key.secret}"
    assert len(key.prefix) == PREFIX_LENGTH
    assert len(key.secret) >= 43
    assert parse_api_key(key.full) == (key.prefix, key.secret)


def test_generated_keys_differ() -> None:
    keys = {generate_api_key().full for _ in range(50)}
    assert len(keys) == 50


@pytest.mark.parametrize(
    "token",
    [
        "",
        "ak_",
        "ak_short_secret",
        "Bearer ak_abcdefghijkl_" + "x" * 43,
        "AK_abcdefghijkl_" + "x" * 43,
        "ak_abcdefghijk_" + "x" * 44,  # 11-character prefix
        "ak_abcdefghij-l_" + "x" * 43,  # prefix outside its alphabet
        "ak_abcdefghijkl-" + "x" * 43,  # wrong separator
        "ak_abcdefghijkl_" + "x" * 42,  # secret too short
        "ak_abcdefghijkl_" + "x" * 129,  # secret too long
        "ak_abcdefghijkl_" + "x" * 42 + "!",
        "ak_abcdefghijkl_" + "x" * 42 + "\n",
        "ak_abcdefghijkl_" + "é" * 43,
        "x" * (MAX_TOKEN_CHARS + 1),
    ],
)
def test_malformed_tokens_are_refused(token: str) -> None:
    assert parse_api_key(token) is None


def test_parse_refuses_non_strings() -> None:
    assert parse_api_key(None) is None  # type: ignore[arg-type]


def test_secret_may_contain_the_separator() -> None:
    secret = "_-" * 22
    assert parse_api_key(f"ak_ABCdef123456_{secret}") == ("ABCdef123456", secret)


def test_hash_is_peppered_hmac() -> None:
    assert hash_secret("s", "pepper-1") != hash_secret("s", "pepper-2")
    assert len(hash_secret("s", "p")) == 64
    assert verify_secret("s", hash_secret("s", "p"), "p")
    assert not verify_secret("t", hash_secret("s", "p"), "p")
    assert not verify_secret("s", hash_secret("s", "p"), "q")
    assert not verify_secret("s", "not-a-hash-ü", "p")


def test_empty_pepper_is_refused() -> None:
    with pytest.raises(ValueError):
        hash_secret("s", "")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u:p@h:5432/d", "postgresql+asyncpg://u:p@h:5432/d"),
        ("postgres://u:p@h/d", "postgresql+asyncpg://u:p@h/d"),
        ("postgresql+asyncpg://u:p@h/d", "postgresql+asyncpg://u:p@h/d"),
        ("postgresql://u:p%40ss@h/d", "postgresql+asyncpg://u:p%40ss@h/d"),
        ("postgresql://u@h/d?sslmode=require", "postgresql+asyncpg://u@h/d?ssl=require"),
        ("postgresql://u@/d?host=/tmp/sock", "postgresql+asyncpg://u@/d?host=%2Ftmp%2Fsock"),
    ],
)
def test_to_async_url(url: str, expected: str) -> None:
    assert to_async_url(url) == expected


def test_to_async_url_refuses_other_databases() -> None:
    with pytest.raises(ValueError):
        to_async_url("mysql://u:p@h/d")
