"""Key-encryption keys (KEKs): the KMS interface and a file-backed one for development.

Data keys never leave a process unwrapped; what is stored is the data key wrapped by a KEK. A production
deployment implements `Kms` over a cloud KMS or an HSM, so the KEK itself never reaches the platform.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import fcntl
import json
import os
import secrets
import stat
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
_NONCE_BYTES = 12
_FILE_FORMAT = 1
_WRAP_AAD = b"aiaas-kek-wrap/v1:"


class KmsError(Exception):
    """A key could not be wrapped or unwrapped; the message names the KEK, never key material."""


@dataclass(frozen=True)
class WrappedKey:
    kek_id: str
    ciphertext: bytes


class Kms(ABC):
    @abstractmethod
    async def wrap(self, plaintext_key: bytes) -> WrappedKey: ...

    @abstractmethod
    async def unwrap(self, wrapped: WrappedKey) -> bytes: ...


@dataclass(frozen=True)
class _Kek:
    kek_id: str
    key: bytes
    created_at: str


class LocalFileKms(Kms):
    """Versioned KEKs in one JSON file (mode 0600): the newest wraps, every one ever created unwraps.

    Several processes share the file (gateway, workers, CLI); creation and rotation take an exclusive lock
    on a sibling lock file and replace the file atomically, so none of them sees a half-written key set.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock_path = self.path.with_name(self.path.name + ".lock")
        self._keks: dict[str, _Kek] = {}
        self._active: str | None = None
        self._mutex = threading.Lock()

    async def wrap(self, plaintext_key: bytes) -> WrappedKey:
        if len(plaintext_key) != KEY_BYTES:
            raise KmsError(f"data keys are {KEY_BYTES} bytes")
        # Re-read on every wrap: another process may have rotated, and wraps are rare (one per new data key).
        kek = await asyncio.to_thread(self._active_kek)
        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed = AESGCM(kek.key).encrypt(nonce, plaintext_key, _WRAP_AAD + kek.kek_id.encode())
        return WrappedKey(kek.kek_id, nonce + sealed)

    async def unwrap(self, wrapped: WrappedKey) -> bytes:
        kek = self._keks.get(wrapped.kek_id)
        if kek is None:
            kek = await asyncio.to_thread(self._find, wrapped.kek_id)
        nonce, sealed = wrapped.ciphertext[:_NONCE_BYTES], wrapped.ciphertext[_NONCE_BYTES:]
        try:
            return AESGCM(kek.key).decrypt(nonce, sealed, _WRAP_AAD + kek.kek_id.encode())
        except InvalidTag as exc:
            raise KmsError(f"data key wrapped under {wrapped.kek_id} does not verify") from exc

    async def rotate(self) -> str:
        """Make a new KEK the one that wraps; the older ones stay for unwrapping. Returns the new id."""
        return await asyncio.to_thread(self._rotate)

    async def active_kek_id(self) -> str:
        return (await asyncio.to_thread(self._active_kek)).kek_id

    def _active_kek(self) -> _Kek:
        with self._mutex:
            self._load(create=True)
            assert self._active is not None
            return self._keks[self._active]

    def _find(self, kek_id: str) -> _Kek:
        with self._mutex:
            self._load(create=False)
            kek = self._keks.get(kek_id)
        if kek is None:
            # Most often every process does not point at the same keys file (AIAAS_KMS_KEYS_FILE).
            raise KmsError(f"key-encryption key {kek_id} is not in {self.path}")
        return kek

    def _rotate(self) -> str:
        with self._mutex, self._exclusive():
            _, keks = self._read() or (None, {})
            kek = _new_kek()
            keks[kek.kek_id] = kek
            self._write(kek.kek_id, keks)
            self._active, self._keks = kek.kek_id, keks
            return kek.kek_id

    def _load(self, *, create: bool) -> None:
        found = self._read()
        if found is None and create:
            with self._exclusive():
                found = self._read()
                if found is None:
                    kek = _new_kek()
                    self._write(kek.kek_id, {kek.kek_id: kek})
                    found = (kek.kek_id, {kek.kek_id: kek})
        if found is not None:
            self._active, self._keks = found

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _read(self) -> tuple[str, dict[str, _Kek]] | None:
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        with os.fdopen(fd) as handle:
            if stat.S_IMODE(os.fstat(fd).st_mode) & 0o077:
                # Like ssh with private keys: a KEK others can read is as good as published.
                raise KmsError(f"{self.path} is readable by group or others; chmod 600 it")
            data = json.load(handle)
        if data.get("format") != _FILE_FORMAT:
            raise KmsError(f"{self.path} has an unknown format")
        keks = {
            kek_id: _Kek(kek_id, base64.b64decode(entry["key"]), entry["created_at"])
            for kek_id, entry in data["keys"].items()
        }
        if data["active"] not in keks:
            raise KmsError(f"{self.path} names an active key it does not hold")
        return data["active"], keks

    def _write(self, active: str, keks: dict[str, _Kek]) -> None:
        body = {
            "format": _FILE_FORMAT,
            "active": active,
            "keys": {
                k.kek_id: {"key": base64.b64encode(k.key).decode(), "created_at": k.created_at} for k in keks.values()
            },
        }
        partial = self.path.with_name(f".{self.path.name}.{secrets.token_hex(4)}.tmp")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as out:
                json.dump(body, out, indent=1)
                out.flush()
                os.fsync(out.fileno())
            partial.replace(self.path)
        finally:
            partial.unlink(missing_ok=True)


def _new_kek() -> _Kek:
    return _Kek(f"local-{secrets.token_hex(8)}", AESGCM.generate_key(bit_length=256), datetime.now(UTC).isoformat())
