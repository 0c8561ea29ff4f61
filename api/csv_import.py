"""CSV bodies for the import routes: read a bounded `text/csv` body, check its header, validate each row.

An import is all or nothing: a file with any bad row writes nothing and answers 422 `import_invalid` with every
problem by row number (the header is row 1, the first record row 2, as a spreadsheet numbers them), so the
tenant fixes the file and sends it again; since rows are upserts, sending a file twice changes nothing the
second time. Whole-file problems (not UTF-8, no header, unknown or missing columns) are 400 `invalid_csv`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, Field, ValidationError

from api.errors import ApiError

MAX_BODY_BYTES = 1_048_576
MAX_ROWS = 10_000
MAX_LISTED_ERRORS = 100
M = TypeVar("M", bound=BaseModel)


class RowError(BaseModel):
    row: int = Field(description="1 is the header, 2 the first record")
    column: str | None
    message: str


class ImportResult(BaseModel):
    rows: int = Field(description="records in the file")
    created: int
    updated: int


@dataclass(frozen=True)
class Record:
    row: int
    # Only the columns the file has, by their header names (lowercased).
    values: dict[str, str]


def _invalid_csv(message: str, **details: Any) -> ApiError:
    return ApiError(400, "invalid_csv", message, details or None)


async def read_body(request: Request) -> bytes:
    """The body, refused with 413 past `MAX_BODY_BYTES` even when it comes chunked, without a length up front."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise ApiError(413, "payload_too_large", f"an import is limited to {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


class RowErrors:
    """Problems found so far, by row; `raise_if_any` turns them into the 422 answer."""

    def __init__(self) -> None:
        self.errors: list[RowError] = []

    def add(self, row: int, column: str | None, message: str) -> None:
        self.errors.append(RowError(row=row, column=column, message=message))

    def raise_if_any(self) -> None:
        if not self.errors:
            return
        listed = sorted(self.errors, key=lambda e: (e.row, e.column or ""))[:MAX_LISTED_ERRORS]
        raise ApiError(
            422,
            "import_invalid",
            f"{len(self.errors)} problem(s) in the file; nothing was imported",
            {"errors": [e.model_dump() for e in listed], "error_count": len(self.errors)},
        )


def _header(rows: list[list[str]], required: tuple[str, ...], optional: tuple[str, ...]) -> list[str]:
    header = [name.strip().lower() for name in rows[0]] if rows else []
    if not any(header):
        raise _invalid_csv("the first row must name the columns", required=list(required))
    unknown = sorted(set(header) - set(required) - set(optional))
    missing = [name for name in required if name not in header]
    duplicated = sorted({name for name in header if header.count(name) > 1})
    if unknown or missing or duplicated:
        raise _invalid_csv(
            "the header does not name the columns this import takes",
            missing=missing,
            unknown=unknown,
            duplicated=duplicated,
            required=list(required),
            optional=list(optional),
        )
    return header


def parse(body: bytes, errors: RowErrors, *, required: tuple[str, ...], optional: tuple[str, ...] = ()) -> list[Record]:
    """The records of a CSV file whose header names every `required` column and only known ones.

    Cells are stripped; an empty cell of an optional column is left out of the record, so it reads as not given.
    Blank lines are skipped; a record with more or fewer cells than the header is reported to `errors`.
    """
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _invalid_csv("the file is not UTF-8 text", byte=exc.start) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        rows = list(reader)
    except csv.Error as exc:
        raise _invalid_csv(f"the file is not valid CSV: {exc}", line=reader.line_num) from None
    header = _header(rows, required, optional)
    numbered = [(number, cells) for number, cells in enumerate(rows[1:], start=2) if any(c.strip() for c in cells)]
    if len(numbered) > MAX_ROWS:
        raise ApiError(413, "too_many_rows", f"an import takes at most {MAX_ROWS} records", {"max_rows": MAX_ROWS})
    records = []
    for number, cells in numbered:
        if len(cells) != len(header):
            errors.add(number, None, f"has {len(cells)} cells where the header names {len(header)} columns")
            continue
        values = {name: cell.strip() for name, cell in zip(header, cells, strict=True)}
        records.append(Record(number, {k: v for k, v in values.items() if v or k in required}))
    return records


def validate(records: list[Record], model: type[M], errors: RowErrors) -> list[tuple[int, M]]:
    """Each record as `model`, with its row number; what does not validate is reported to `errors`."""
    valid: list[tuple[int, M]] = []
    for record in records:
        try:
            valid.append((record.row, model.model_validate(record.values)))
        except ValidationError as exc:
            for error in exc.errors(include_input=False, include_url=False):
                loc = error.get("loc") or ()
                errors.add(record.row, str(loc[0]) if loc else None, str(error.get("msg")))
    return valid


def unique(items: list[tuple[int, M]], key: Callable[[M], str], column: str, errors: RowErrors) -> None:
    """Report every row whose `key` an earlier row already has: one import sets one record once."""
    first: dict[str, int] = {}
    for row, item in items:
        value = key(item)
        if value in first:
            errors.add(row, column, f"repeats row {first[value]}")
        else:
            first.setdefault(value, row)
