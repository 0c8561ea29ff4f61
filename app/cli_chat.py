"""`aiaas chat`: talk to an agent from the terminal, through the gateway's HTTP API like any client.

Each line typed is one message, posted with a fresh `client_message_id` (so a retry after a refusal or a
lost connection is still one message), and its turn is followed on the event stream until it ends; the
next line waits for that. It ends at EOF (Ctrl-D), which also makes it usable with lines piped in.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import TYPE_CHECKING, Any

from app.cli_context import add_data_dir, load_settings

if TYPE_CHECKING:
    import httpx

    from core.settings import Settings

# Refusals that say to come back later (rate limits, load shedding, a busy conversation) are retried.
RETRY_STATUSES = (409, 429, 503)
MAX_SUBMIT_ATTEMPTS = 5
MAX_RETRY_WAIT = 30.0
CHANNEL = "cli"


def add_chat_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "chat", help="talk to an agent through the gateway; one message per line, Ctrl-D to leave"
    )
    parser.add_argument("--key", required=True, help="an API key of the tenant (`ak_...`)")
    parser.add_argument("--agent", default="support", help="the agent a new conversation talks to (default: support)")
    parser.add_argument("--conversation", default=None, help="continue this conversation instead of starting one")
    parser.add_argument(
        "--customer", default=None, help="a new conversation acts for this customer of the tenant (its id)"
    )
    parser.add_argument(
        "--gateway",
        default=None,
        help="the gateway's URL (default: the one `aiaas up` runs, else http://AIAAS_HOST:AIAAS_GATEWAY_PORT)",
    )
    add_data_dir(parser)
    parser.set_defaults(func=_chat)


def gateway_url(settings: Settings) -> str:
    from core.stack.running import read_running_apps

    apps = read_running_apps(settings.data_dir)
    if apps is not None and apps.gateway_url:
        return apps.gateway_url
    return f"http://{settings.host}:{settings.gateway_port}"


def _chat(args: argparse.Namespace) -> int:
    import httpx

    base_url = (args.gateway or gateway_url(load_settings(args.data_dir))).rstrip("/")
    headers = {"Authorization": f"Bearer {args.key}"}
    try:
        with httpx.Client(base_url=base_url, headers=headers, timeout=30.0) as client:
            return _session(client, args)
    except httpx.TransportError as exc:
        raise RuntimeError(f"cannot reach the gateway at {base_url}: {exc or type(exc).__name__}") from exc


def _session(client: httpx.Client, args: argparse.Namespace) -> int:
    from app.cli_chat_stream import TurnPrinter, follow_turn

    conversation_id, agent = _open(client, args)
    interactive = sys.stdin.isatty()
    print(f"conversation {conversation_id} with {agent}", file=sys.stderr, flush=True)
    if interactive:
        print("type a message and press Enter; Ctrl-D to leave", file=sys.stderr, flush=True)
    cursor: str | None = None
    while True:
        line = _read_line("you> " if interactive else "")
        if line is None:
            return 0
        if not line.strip():
            continue
        message_id = _submit(client, conversation_id, line)
        if message_id is None:
            continue
        printer = TurnPrinter(message_id, agent)
        cursor = follow_turn(client, conversation_id, printer, cursor)
        agent = printer.agent


def _read_line(prompt: str) -> str | None:
    try:
        return input(prompt) if prompt else _stdin_line()
    except EOFError:
        return None


def _stdin_line() -> str | None:
    line = sys.stdin.readline()
    return line.rstrip("\n") if line else None


def _open(client: httpx.Client, args: argparse.Namespace) -> tuple[str, str]:
    """The conversation to talk in, and the agent answering there."""
    from app.cli_chat_stream import error_text

    if args.conversation:
        found = client.get(f"/v1/conversations/{args.conversation}")
        if found.status_code == 404:
            raise RuntimeError(f"no conversation {args.conversation} for this key's tenant")
        if found.status_code != 200:
            raise RuntimeError(f"could not open the conversation: {error_text(found)}")
        return args.conversation, str(found.json()["agent"])
    body = {"agent": args.agent, "channel": CHANNEL, **({"customer_id": args.customer} if args.customer else {})}
    created = client.post("/v1/conversations", json=body)
    if created.status_code != 201:
        raise RuntimeError(f"could not start a conversation: {error_text(created)}")
    return str(created.json()["id"]), args.agent


def _submit(client: httpx.Client, conversation_id: str, content: str) -> str | None:
    """Post one message, retrying what the gateway asks to retry; None when it is refused for good."""
    import uuid

    from app.cli_chat_stream import error_text

    body = {"content": content, "client_message_id": f"cli-{uuid.uuid4()}"}
    for attempt in range(1, MAX_SUBMIT_ATTEMPTS + 1):
        response = client.post(f"/v1/conversations/{conversation_id}/messages", json=body)
        if response.status_code == 202:
            return str(response.json()["message_id"])
        if response.status_code in (401, 403, 404):
            # The key or the conversation is wrong: no later message would fare better.
            raise RuntimeError(f"the gateway refused the message: {error_text(response)}")
        if response.status_code not in RETRY_STATUSES or attempt == MAX_SUBMIT_ATTEMPTS:
            print(f"  [refused] {error_text(response)}", flush=True)
            return None
        wait = _retry_after(response)
        print(f"  [waiting] {error_text(response)}; trying again in {wait:g} s", flush=True)
        time.sleep(wait)
    return None


def _retry_after(response: httpx.Response) -> float:
    try:
        return min(MAX_RETRY_WAIT, max(1.0, float(response.headers.get("Retry-After", "1"))))
    except ValueError:
        return 1.0
