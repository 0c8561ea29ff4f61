"""An invoice as a self-contained HTML page (inline styles, no scripts, no external resources), every value
escaped. The PDF (`billing.render_pdf`) shows the same content.
"""

from __future__ import annotations

from html import escape

from billing.store import StoredInvoice


def money(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    return f"{sign}${abs(cents) // 100:,}.{abs(cents) % 100:02d}"


def invoice_html(invoice: StoredInvoice, *, tenant_name: str) -> str:
    rows = "".join(
        f"<tr><td>{escape(str(line.get('description', '')))}</td>"
        f"<td class=n>{int(line.get('quantity', 1)):,}</td>"
        f"<td class=n>{money(int(line.get('amount_cents', 0)))}</td></tr>"
        for line in invoice.lines
    )
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>Invoice {escape(invoice.number)}</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;width:100%}"
        "td,th{border-bottom:1px solid #ddd;padding:.4em;text-align:left}.n{text-align:right}</style></head><body>"
        f"<h1>Invoice {escape(invoice.number)}</h1>"
        f"<p>{escape(tenant_name)}<br>Plan: {escape(invoice.plan)}<br>"
        f"Period: {invoice.period_start.date().isoformat()} to {invoice.period_end.date().isoformat()}<br>"
        f"Status: {escape(invoice.status)}</p>"
        f"<table><tr><th>Item</th><th class=n>Quantity</th><th class=n>Amount</th></tr>{rows}"
        f"<tr><td>Subtotal</td><td></td><td class=n>{money(invoice.subtotal_cents)}</td></tr>"
        f"<tr><td>Tax</td><td></td><td class=n>{money(invoice.tax_cents)}</td></tr>"
        f"<tr><th>Total (USD)</th><td></td><th class=n>{money(invoice.total_cents)}</th></tr></table>"
        "</body></html>"
    )
