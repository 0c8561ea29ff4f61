"""The web chat widget over HTTP: its script, the origin and key checks, a visitor's session, a message whose
answer streams over SSE, and a stream resumed with Last-Event-ID that repeats nothing."""

from __future__ import annotations

import json
import uuid

import httpx

from tests.channels import helpers as h
from tests.e2e.platform import Platform

ORIGIN = "https://shop.example"


def _frames(client: httpx.Client, headers: dict[str, str], until: str, timeout: float = 45.0) -> list[dict]:
    frames: list[dict] = []
    with client.stream("GET", "/widget/v1/events", headers=headers, timeout=timeout) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["access-control-allow-origin"] == ORIGIN
        current: dict[str, str] = {}
        for line in response.iter_lines():
            if line == "":
                if "data" in current:
                    frames.append(
                        {"id": current.get("id"), "event": current.get("event"), "data": json.loads(current["data"])}
                    )
                    if current.get("event") == until:
                        return frames
                current = {}
            elif not line.startswith(":"):
                key, _, value = line.partition(":")
                current[key] = value.lstrip(" ")
    return frames


def test_widget_chats_over_sse_and_resumes(platform: Platform, api: httpx.Client) -> None:
    channel = h.make_channel(api, "widget", allowed_origins=[ORIGIN])
    key = channel["public_key"]
    assert key.startswith("wk_") and not channel["has_secret"]
    with httpx.Client(base_url=platform.base_url, timeout=30) as browser:
        script = browser.get("/widget.js")
        assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
        assert b"Last-Event-ID" in script.content

        assert browser.post("/widget/v1/sessions", headers={"Origin": ORIGIN}).status_code == 401
        evil = browser.post("/widget/v1/sessions", headers={"X-Widget-Key": key, "Origin": "https://evil.example"})
        assert evil.status_code == 403 and evil.json()["error"]["code"] == "origin_not_allowed"
        forged_key = key[:-4] + "AAAA"
        assert (
            browser.post("/widget/v1/sessions", headers={"X-Widget-Key": forged_key, "Origin": ORIGIN}).status_code
            == 401
        )

        preflight = browser.options(
            "/widget/v1/messages", headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"}
        )
        assert preflight.status_code == 204 and "X-Widget-Key" in preflight.headers["access-control-allow-headers"]
        session = browser.post("/widget/v1/sessions", headers={"X-Widget-Key": key, "Origin": ORIGIN})
        assert session.status_code == 201, session.text
        assert session.headers["access-control-allow-origin"] == ORIGIN
        headers = {"X-Widget-Key": key, "Origin": ORIGIN, "Authorization": f"Bearer {session.json()['visitor_token']}"}

        blank = browser.post("/widget/v1/messages", headers=headers, json={"content": "   "})
        # An error to the widget's own page is readable by its script (CORS), so it can tell a retry from a refusal.
        assert blank.status_code == 422 and blank.headers["access-control-allow-origin"] == ORIGIN
        stranger = {**headers, "Authorization": "Bearer not-a-visitor"}
        assert browser.post("/widget/v1/messages", headers=stranger, json={"content": "hi"}).status_code == 401
        cid = f"w-{uuid.uuid4().hex[:8]}"
        posted = h.as_provider(
            lambda: browser.post(
                "/widget/v1/messages", headers=headers, json={"content": "is it in stock", "client_message_id": cid}
            )
        )
        assert posted.status_code == 202, posted.text
        message_id = posted.json()["message_id"]

        frames = _frames(browser, headers, until="message.completed")
        tokens = "".join(f["data"]["data"]["delta"] for f in frames if f["event"] == "token")
        completed = frames[-1]["data"]["data"]
        assert completed["reply_to"] == message_id and completed["content"] == tokens == "echo: is it in stock"

        # The widget reconnects after a drop with the last id it saw: the stream continues after it, nothing again.
        middle = next(i for i, f in enumerate(frames) if f["event"] == "token")
        resumed = _frames(browser, {**headers, "Last-Event-ID": frames[middle]["id"]}, until="message.completed")
        assert [f["id"] for f in resumed] == [f["id"] for f in frames[middle + 1 :]]

        again = browser.post(
            "/widget/v1/messages", headers=headers, json={"content": "is it in stock", "client_message_id": cid}
        )
        assert again.status_code == 202 and again.json()["duplicate"] is True
