"""A tenant's own payments/shipping/CRM service, for the HTTP connector tests: a real HTTP server on a free
local port, run by uvicorn in a thread.

It checks every request's signature, answers repeated idempotency keys with the first answer, and misbehaves
on demand by the first path segment: `/ok/...` behaves, `/slow` stalls, `/error` answers 503, `/reject` 402
with an error type, `/garbage` an answer of the wrong shape, `/redirect` a redirect, `/huge` an oversized body.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from commerce.connectors.http import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, verify_signature
from core.stack.ports import free_port


@dataclass
class Seen:
    mode: str
    path: str
    body: bytes
    verified: bool
    key: str | None
    content_type: str | None

    @property
    def payload(self) -> Any:
        return json.loads(self.body)


@dataclass
class FakeService:
    secret: str
    url: str = ""
    seen: list[Seen] = field(default_factory=list)
    answers: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    charges: dict[str, dict[str, Any]] = field(default_factory=dict)
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)
    contacts: dict[str, str] = field(default_factory=dict)

    def reset(self) -> None:
        for store in (self.seen, self.answers, self.charges, self.refunds, self.contacts):
            store.clear()

    async def handle(self, request: Request) -> Response:
        mode, path = request.path_params["mode"], "/" + request.path_params["path"]
        body = await request.body()
        verified = verify_signature(self.secret, request.headers.get(SIGNATURE_HEADER), body)
        key = request.headers.get(IDEMPOTENCY_HEADER)
        self.seen.append(Seen(mode, path, body, verified, key, request.headers.get("content-type")))
        if not verified:
            return JSONResponse({"error": {"type": "BadSignature", "message": "the signature does not verify"}}, 401)
        if mode == "slow":
            await asyncio.sleep(3)
        if mode == "error":
            return JSONResponse({"error": {"type": "Overloaded"}}, 503)
        if mode == "reject":
            return JSONResponse({"error": {"type": "PaymentDeclined", "message": "card declined"}}, 402)
        if mode == "garbage":
            return JSONResponse({"id": 5, "amount_cents": "lots"})
        if mode == "redirect":
            return RedirectResponse("http://127.0.0.1:9/elsewhere", 307)
        if mode == "huge":
            return Response(b"x" * 400_000, media_type="application/json")
        if key is not None and (path, key) in self.answers:
            return JSONResponse(self.answers[(path, key)])
        answer = self.act(path, json.loads(body))
        if key is not None:
            self.answers[(path, key)] = answer
        return JSONResponse(answer)

    def act(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        if path == "/payments/charge":
            charge = {"id": f"ch_{uuid.uuid4().hex[:12]}", "amount_cents": payload["amount_cents"]}
            self.charges[charge["id"]] = {**charge, "order_id": payload["order_id"], "refunded_cents": 0}
            return charge
        if path == "/payments/refund":
            self.charges[payload["charge_id"]]["refunded_cents"] += payload["amount_cents"]
            return {"id": f"re_{uuid.uuid4().hex[:12]}", "amount_cents": payload["amount_cents"]}
        order_charges = [c for c in self.charges.values() if c["order_id"] == payload.get("order_id")]
        if path == "/payments/net-charged":
            return {"net_charged_cents": sum(c["amount_cents"] - c["refunded_cents"] for c in order_charges)}
        if path == "/payments/charges":
            return {"charges": [{k: c[k] for k in ("id", "amount_cents", "refunded_cents")} for c in order_charges]}
        if path == "/shipments/create":
            ref = f"shp_{uuid.uuid4().hex[:8]}"
            return {"external_ref": ref, "carrier": "Acme Freight", "tracking_number": ref.upper()}
        if path == "/shipments/cancel":
            return {}
        if path == "/crm/contacts/upsert":
            return {"id": self.contacts.setdefault(payload["email"], f"ct_{uuid.uuid4().hex[:8]}")}
        raise AssertionError(f"unexpected path {path}")


class ServiceThread:
    def __init__(self, service: FakeService) -> None:
        port = free_port()
        app = Starlette(routes=[Route("/{mode}/{path:path}", service.handle, methods=["POST"])])
        config = uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", lifespan="off", timeout_graceful_shutdown=1
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="connector-service", daemon=True)
        service.url = f"http://127.0.0.1:{port}"

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the connector service did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
