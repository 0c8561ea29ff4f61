"""The HTTP payment connector against a loopback processor shaped like Stripe's PaymentIntents (idempotency
keys honoured as a processor does), and a period's bill in the cases docs/billing.md promises."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest

from billing.payments import HttpProcessor, ProcessorUnavailable
from billing.period import Change, bill_period


class _Processor(BaseHTTPRequestHandler):
    book: dict[str, tuple[int, dict]] = {}
    requests: list[dict] = []

    def do_POST(self) -> None:
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(int(self.headers["content-length"])).decode()).items()}
        key = self.headers["idempotency-key"]
        self.requests.append({"key": key, "auth": self.headers["authorization"], **form})
        if form["payment_method"] == "pm_broken":
            status, body = 500, {"error": {"type": "api_error"}}
        elif key not in self.book:
            declined = form["payment_method"] == "pm_card_chargeDeclined"
            pi = {"id": f"pi_{len(self.book)}", "status": "requires_payment_method" if declined else "succeeded"}
            self.book[key] = (
                (402, {"error": {"code": "card_declined", "payment_intent": pi}}) if declined else (200, pi)
            )
            status, body = self.book[key]
        else:
            status, body = self.book[key]
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, format: str, *args: object) -> None:
        return


async def test_http_processor_keys_declines_and_outages() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Processor)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    processor = HttpProcessor(f"http://127.0.0.1:{server.server_port}", "sk_test_1")
    try:
        args = {"tenant_id": "t1", "amount_cents": 5831, "description": "invoice 1"}
        first = await processor.charge(payment_method="pm_card_visa", idempotency_key="inv1:try0", **args)
        again = await processor.charge(payment_method="pm_card_visa", idempotency_key="inv1:try0", **args)
        assert first.succeeded and again == first, "a repeated key returns the first outcome"
        declined = await processor.charge(payment_method="pm_card_chargeDeclined", idempotency_key="inv2:try0", **args)
        assert not declined.succeeded and declined.error == "card_declined"
        with pytest.raises(ProcessorUnavailable):
            await processor.charge(payment_method="pm_broken", idempotency_key="inv3:try0", **args)
    finally:
        await processor.close()
        server.shutdown()
    sent = _Processor.requests[0]
    assert sent["auth"] == "Bearer sk_test_1" and sent["amount"] == "5831" and sent["confirm"] == "true"
    assert len({r["key"] for r in _Processor.requests if r["payment_method"] == "pm_card_visa"}) == 1


def test_halfway_upgrade_nets_the_half_difference_and_a_downgrade_credits() -> None:
    start = datetime(2026, 4, 1, tzinfo=UTC)
    end = datetime(2026, 5, 1, tzinfo=UTC)
    half = start + (end - start) / 2
    up = bill_period(
        start_plan="pro", end_plan="enterprise", start=start, end=end, tokens=0,
        changes=[Change("pro", "enterprise", half)], credit_cents=0, tax_rate=Decimal(0),
    )  # fmt: skip
    assert up.draft.total_cents == 4900 + (99900 - 4900) // 2
    down = bill_period(
        start_plan="enterprise", end_plan="pro", start=start, end=end, tokens=0,
        changes=[Change("enterprise", "pro", end - timedelta(days=15))], credit_cents=100, tax_rate=Decimal("0.2"),
    )  # fmt: skip
    # The unused half of the fee difference comes back as credit and, with the 100 carried in, pays part of
    # this invoice's enterprise base fee; tax applies to what is left.
    assert down.credit_used_cents == 100 + (99900 - 4900) // 2 and down.credit_left_cents == 0
    assert down.draft.total_cents == (99900 - down.credit_used_cents) * 12 // 10
