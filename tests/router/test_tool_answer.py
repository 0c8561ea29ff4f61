"""A tool's answer template: rendered only when every field is a top-level scalar of the output, else None
(the model answers as usual)."""

from __future__ import annotations

import pytest

from contracts.early_exit import MAX_TOOL_ANSWER_CHARS, render_tool_answer

TEMPLATE = "Your order {order_id} is {status}."


def test_scalar_fields_render_exactly() -> None:
    output = {"order_id": "o-1", "status": "shipped", "lines": [{"sku": "A"}]}
    assert render_tool_answer(TEMPLATE, output) == "Your order o-1 is shipped."
    assert render_tool_answer("{n} left, {{in stock}}", {"n": 3}) == "3 left, {in stock}"


@pytest.mark.parametrize(
    ("template", "output"),
    [
        (TEMPLATE, {"order_id": "o-1"}),  # a field the output lacks
        ("{lines}", {"lines": [{"sku": "A"}]}),  # not a scalar
        ("{order.id}", {"order": {"id": "o-1"}}),  # nested
        ("{flag}", {"flag": True}),  # a boolean reads badly in an answer
        ("{total:>10}", {"total": 5}),  # a format spec
        ("{status!r}", {"status": "placed"}),  # a conversion
        ("{status", {"status": "placed"}),  # not a template
        ("  {blank} ", {"blank": ""}),  # nothing to say
        ("{note}", {"note": "x" * (MAX_TOOL_ANSWER_CHARS + 1)}),  # too long
    ],
)
def test_what_cannot_render_exactly_is_left_to_the_model(template: str, output: dict[str, object]) -> None:
    assert render_tool_answer(template, output) is None
