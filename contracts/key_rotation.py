"""Key rotation of a tenant's sealed fields: a new data key version, re-encryption in batches, retirement."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field

from contracts.base import Frozen

ROTATION_HEARTBEAT = timedelta(seconds=10)
ROTATION_KEY_TIMEOUT = timedelta(seconds=30)
# One re-encryption activity works for at most this long, then hands back its count; the next resumes
# where the rows say (by key version), so the history grows by one event pair per slice, not per batch.
ROTATION_SLICE = timedelta(seconds=60)
ROTATION_RESEAL_TIMEOUT = timedelta(minutes=5)
MAX_BATCH = 1000


def rotation_workflow_id(tenant_id: str) -> str:
    """One rotation at a time per tenant: a second request while one runs finds the running one."""
    return f"{tenant_id}:key-rotation"


class KeyRotationInput(Frozen):
    tenant_id: str
    actor: str
    # False: no new version, only seal what is still in clear or under an older version (after an upgrade).
    new_version: bool = True
    # How long every process may still seal with the previous version (its data-key cache TTL).
    settle_seconds: float = Field(default=300.0, ge=0, le=3600)
    batch_size: int = Field(default=200, ge=1, le=MAX_BATCH)


class RotateKeyInput(Frozen):
    tenant_id: str
    # The version active when the workflow started; a retry that finds a newer one rotates no further.
    above_version: int = Field(ge=0)


class KeyVersion(Frozen):
    version: int


class ResealInput(Frozen):
    tenant_id: str
    target_version: int
    batch_size: int = Field(ge=1, le=MAX_BATCH)


class ResealResult(Frozen):
    messages: int = 0
    tool_calls: int = 0
    done: bool = False


class RetireInput(Frozen):
    tenant_id: str
    actor: str
    target_version: int
    workflow_id: str
    messages: int = 0
    tool_calls: int = 0


class RetireResult(Frozen):
    retired_versions: list[int] = Field(default_factory=list)


class KeyRotationProgress(Frozen):
    """What the workflow's `progress` query and its result say."""

    phase: str = "starting"
    from_version: int = 0
    target_version: int = 0
    messages: int = 0
    tool_calls: int = 0
    retired_versions: list[int] = Field(default_factory=list)
