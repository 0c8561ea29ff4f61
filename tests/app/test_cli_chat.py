"""`aiaas chat` against the platform's gateway, with lines piped in as a script would."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import pytest

from core.stack.ports import free_port
from tests.e2e.fixtures import create_test_tenant
from tests.e2e.platform import Platform

HANDOFF = [
    {"tool": "agents.handoff", "args": {"target": "orders", "reason": "the customer wants to buy"}},
    {"tool": "inventory.check", "args": {"sku": "SKU-MUG"}},
]


@pytest.fixture(scope="module")
def key(platform: Platform) -> str:
    return create_test_tenant(platform.settings, "Cli Chat")[1]


def chat(platform: Platform, key: str, lines: list[str], *extra: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "app.cli", "chat", "--key", key, "--gateway", platform.base_url, *extra]
    stdin = "".join(f"{line}\n" for line in lines)
    return subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=180, env=platform.env)


def conversation_of(done: subprocess.CompletedProcess[str]) -> str:
    first = done.stderr.splitlines()[0].split()
    assert first[0] == "conversation" and first[2:] == ["with", "support"], done.stderr
    return first[1]


def test_each_line_is_a_message_answered_as_it_streams(platform: Platform, key: str) -> None:
    done = chat(platform, key, ["Where is my order?", "", "PLAN: " + json.dumps(HANDOFF), "Thanks"])
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "support> echo: Where is my order?",
        "  [handoff] support -> orders: the customer wants to buy",
        '  [tool] agents.handoff completed: {"agent":"orders"}',
        "  [tool] inventory.check started",
        '  [tool] inventory.check completed: {"products":[]}',
        "orders> done: inventory.check=ok",
        "orders> echo: Thanks",
    ]
    # Three lines with text, three messages: each posted once, each answered once.
    with httpx.Client(base_url=platform.base_url, headers={"Authorization": f"Bearer {key}"}) as api:
        transcript = api.get(f"/v1/conversations/{conversation_of(done)}").json()["messages"]
    assert [m["role"] for m in transcript] == ["user", "assistant"] * 3
    assert all(m["client_message_id"].startswith("cli-") for m in transcript if m["role"] == "user")


def test_a_conversation_is_continued_with_the_agent_answering_it(platform: Platform, key: str) -> None:
    first = chat(platform, key, [f"PLAN: {json.dumps(HANDOFF[:1])}"])
    assert first.returncode == 0, first.stderr
    cid = conversation_of(first)
    again = chat(platform, key, ["Still there?"], "--conversation", cid)
    assert again.returncode == 0, again.stderr
    # Everything before this message was replayed to find where the conversation stood, and not shown.
    assert again.stdout.splitlines() == ["orders> echo: Still there?"]


def test_eof_at_once_leaves_after_opening_the_conversation(platform: Platform, key: str) -> None:
    done = chat(platform, key, [])
    assert (done.returncode, done.stdout) == (0, "")
    conversation_of(done)


@pytest.mark.parametrize(
    ("extra", "error"),
    [
        ([], "aiaas: could not start a conversation: 401 unauthenticated: "),
        (["--agent", "nobody"], "aiaas: could not start a conversation: 422 agent_not_found: no agent named 'nobody'"),
        (["--conversation", "00000000-0000-4000-8000-000000000000"], "aiaas: no conversation 00000000-"),
    ],
)
def test_a_refusal_is_one_line(platform: Platform, key: str, extra: list[str], error: str) -> None:
    done = chat(platform, "ak_not_a_key" if not extra else key, ["hello"], *extra)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.startswith(error) and done.stderr.count("\n") == 1, done.stderr


def test_a_gateway_that_is_not_there_is_one_line(platform: Platform, key: str) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    done = chat(platform, key, ["hello"], "--gateway", nowhere)
    assert done.returncode == 1
    assert done.stderr.startswith(f"aiaas: cannot reach the gateway at {nowhere}: ") and done.stderr.count("\n") == 1
