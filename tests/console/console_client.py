"""Signing in to the console as a browser would, with httpx: the session cookie and the page's CSRF token."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

_CSRF = re.compile(r'data-csrf="([^"]+)"')


class Console:
    """A browser-like client of the console: keeps cookies, sends the console's own `Origin` on posts."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = httpx.Client(base_url=base_url, timeout=30.0, follow_redirects=False)
        self.csrf = ""

    def sign_in(self, credential: str) -> httpx.Response:
        answer = self.http.post("/console/sign-in", data={"credential": credential}, headers={"Origin": self.base_url})
        if answer.status_code == 303:
            self.csrf = self.token()
        return answer

    def token(self) -> str:
        page = self.http.get("/console/conversations")
        found = _CSRF.search(page.text) or _CSRF.search(self.http.get("/console/tenants").text)
        assert found, "no CSRF token on the signed-in page"
        return found.group(1)

    def get(self, path: str, **kwargs: object) -> httpx.Response:
        return self.http.get(path, **kwargs)  # type: ignore[arg-type]

    def post(
        self, path: str, data: dict[str, str] | None = None, *, csrf: bool = True, origin: str | None = None
    ) -> httpx.Response:
        form = dict(data or {})
        if csrf:
            form["csrf_token"] = self.csrf
        return self.http.post(path, data=form, headers={"Origin": origin or self.base_url})

    def close(self) -> None:
        self.http.close()


@contextmanager
def signed_in(base_url: str, credential: str) -> Iterator[Console]:
    console = Console(base_url)
    try:
        answer = console.sign_in(credential)
        assert answer.status_code == 303, answer.text
        yield console
    finally:
        console.close()


def post_until(api: httpx.Client, conversation: str, status: int) -> httpx.Response:
    """A gateway caches the budget mode for a moment: wait (briefly) for a change to show."""
    deadline = time.monotonic() + 15
    while True:
        response = api.post(f"/v1/conversations/{conversation}/messages", json={"content": "again"})
        if response.status_code == status or time.monotonic() > deadline:
            return response
        time.sleep(0.5)
