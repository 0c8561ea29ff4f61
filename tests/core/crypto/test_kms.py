"""The development KMS: a private key file created on first use, rotation that keeps old KEKs for unwrapping,
and several processes sharing one file."""

from __future__ import annotations

import asyncio
import os
import stat
from dataclasses import replace
from pathlib import Path

import pytest

from core.crypto import KmsError, LocalFileKms

DEK = bytes(range(32))


@pytest.fixture
def kms(tmp_path: Path) -> LocalFileKms:
    return LocalFileKms(tmp_path / "kms" / "keys.json")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_key_file_is_created_private_on_first_use(tmp_path: Path) -> None:
    path = tmp_path / "kms" / "keys.json"
    kms = LocalFileKms(path)
    assert not path.exists()
    wrapped = await kms.wrap(DEK)
    assert _mode(path) == 0o600
    assert _mode(path.parent) == 0o700
    assert wrapped.kek_id == await kms.active_kek_id()
    assert DEK not in wrapped.ciphertext
    assert await kms.unwrap(wrapped) == DEK


async def test_wrapping_twice_gives_different_ciphertexts(kms: LocalFileKms) -> None:
    first, second = await kms.wrap(DEK), await kms.wrap(DEK)
    assert first.ciphertext != second.ciphertext
    assert await kms.unwrap(first) == await kms.unwrap(second) == DEK


async def test_rotation_wraps_with_the_new_kek_and_still_unwraps_old_ones(kms: LocalFileKms) -> None:
    old = await kms.wrap(DEK)
    new_id = await kms.rotate()
    assert new_id != old.kek_id
    new = await kms.wrap(DEK)
    assert new.kek_id == new_id
    assert await kms.unwrap(old) == await kms.unwrap(new) == DEK


async def test_another_process_sees_a_rotation_through_the_file(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    here, there = LocalFileKms(path), LocalFileKms(path)
    old = await here.wrap(DEK)
    assert await there.unwrap(old) == DEK
    rotated = await there.rotate()
    assert (await here.wrap(DEK)).kek_id == rotated
    assert await LocalFileKms(path).unwrap(old) == DEK


async def test_concurrent_first_use_creates_one_kek(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    ids = await asyncio.gather(*(LocalFileKms(path).active_kek_id() for _ in range(8)))
    assert len(set(ids)) == 1


async def test_tampered_or_unknown_wrapped_keys_are_refused(kms: LocalFileKms) -> None:
    wrapped = await kms.wrap(DEK)
    flipped = bytes([wrapped.ciphertext[-1] ^ 1])
    with pytest.raises(KmsError):
        await kms.unwrap(replace(wrapped, ciphertext=wrapped.ciphertext[:-1] + flipped))
    with pytest.raises(KmsError, match="not in"):
        await kms.unwrap(replace(wrapped, kek_id="local-0000000000000000"))


async def test_a_key_file_others_can_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    await LocalFileKms(path).wrap(DEK)
    os.chmod(path, 0o644)
    with pytest.raises(KmsError, match="chmod 600"):
        await LocalFileKms(path).wrap(DEK)


async def test_only_256_bit_keys_are_wrapped(kms: LocalFileKms) -> None:
    with pytest.raises(KmsError):
        await kms.wrap(b"short")
