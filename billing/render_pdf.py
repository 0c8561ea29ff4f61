"""An invoice as PDF, drawn with ReportLab (BSD): the same content as the HTML page, one page, built-in
Helvetica, no external resources."""

from __future__ import annotations

from html import escape
from io import BytesIO

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from billing.render import money
from billing.store import StoredInvoice


def invoice_pdf(invoice: StoredInvoice, *, tenant_name: str) -> bytes:
    styles = getSampleStyleSheet()
    out = BytesIO()
    doc = SimpleDocTemplate(out, pagesize=A4, title=f"Invoice {invoice.number}", invariant=True)
    rows = [["Item", "Quantity", "Amount"]]
    rows += [
        [
            str(line.get("description", ""))[:90],
            f"{int(line.get('quantity', 1)):,}",
            money(int(line.get("amount_cents", 0))),
        ]
        for line in invoice.lines
    ]
    rows += [["Subtotal", "", money(invoice.subtotal_cents)], ["Tax", "", money(invoice.tax_cents)]]
    rows += [["Total (USD)", "", money(invoice.total_cents)]]
    table = Table(rows, colWidths=[300, 80, 90])
    table.setStyle(
        TableStyle(
            [
                ("ALIGN", (1, 0), (-1, -1), "RIGHT"),
                ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.lightgrey),
                ("FONTNAME", (0, -1), (-1, -1), "Helvetica-Bold"),
            ]
        )
    )
    period = f"{invoice.period_start.date().isoformat()} to {invoice.period_end.date().isoformat()}"
    doc.build(
        [
            Paragraph(f"Invoice {escape(invoice.number)}", styles["Title"]),
            Paragraph(
                f"{escape(tenant_name)}<br/>Plan: {escape(invoice.plan)}<br/>Period: {period}<br/>"
                f"Status: {escape(invoice.status)}",
                styles["Normal"],
            ),
            Spacer(1, 12),
            table,
        ]
    )
    return out.getvalue()
