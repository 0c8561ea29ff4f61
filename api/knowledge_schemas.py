"""Request and response bodies of `/v1/knowledge`: collections, documents and search."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from api.errors import ApiError
from knowledge.catalog import Collection, Document
from knowledge.store import Passage

_TEXT = r"^[^\x00-\x1f\x7f]+$"
# Free text may hold newlines and tabs, never NUL or other control characters (Postgres text refuses NUL).
_FREE_TEXT = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
Group = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")]
MetaValue = Annotated[str, StringConstraints(max_length=256, pattern=_TEXT)]
_GROUP = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
MAX_GROUPS = 32


def parse_groups(raw: str | list[str]) -> list[str]:
    """Visibility groups (letters, digits, `_.:-`; a list or a comma-separated string), sorted, no repeats."""
    items = raw.split(",") if isinstance(raw, str) else raw
    groups = sorted({g.strip() for g in items if g.strip()})
    bad = [g for g in groups if not _GROUP.match(g)]
    if bad or len(groups) > MAX_GROUPS:
        raise ApiError(422, "invalid_groups", f"at most {MAX_GROUPS} groups of letters, digits and _.:-", {"bad": bad})
    return groups


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CollectionIn(_Strict):
    name: str = Field(min_length=1, max_length=100, pattern=_TEXT)
    description: str = Field(default="", max_length=1000, pattern=_FREE_TEXT)
    embedding_model: str | None = Field(
        default=None,
        max_length=200,
        pattern=_TEXT,
        description="the built-in offline model when absent; or a hosted model through litellm",
    )


class CollectionOut(BaseModel):
    id: str
    name: str
    description: str
    embedding_model: str
    embedding_dim: int
    created_at: datetime

    @classmethod
    def of(cls, c: Collection) -> CollectionOut:
        return cls(**c.__dict__)


class DocumentOut(BaseModel):
    id: str
    collection_id: str
    filename: str
    media_type: str
    size_bytes: int
    content_sha256: str
    groups: list[str]
    metadata: dict[str, str]
    status: str
    reason: str
    pages: int
    chunks: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, d: Document) -> DocumentOut:
        return cls(**d.__dict__)


class CustomerGroups(_Strict):
    groups: list[str] = Field(max_length=MAX_GROUPS, description="letters, digits and _.:-, up to 64 each")


class SearchIn(_Strict):
    query: str = Field(min_length=1, max_length=2000, pattern=_FREE_TEXT)
    collection_ids: list[uuid.UUID] = Field(default_factory=list, max_length=20)
    groups: list[Group] = Field(default_factory=list, max_length=MAX_GROUPS, description="search as these groups")
    metadata: dict[Annotated[str, StringConstraints(max_length=64, pattern=_TEXT)], MetaValue] = Field(
        default_factory=dict, max_length=10
    )
    top_k: int = Field(default=10, ge=1, le=50)
    mode: Literal["hybrid", "vector", "text"] = "hybrid"


class PassageOut(BaseModel):
    document_id: str
    filename: str
    page: int | None
    heading: str
    text: str
    score: float


class SearchOut(BaseModel):
    items: list[PassageOut]

    @classmethod
    def of(cls, passages: list[Passage]) -> SearchOut:
        return cls(
            items=[
                PassageOut(
                    document_id=p.document_id,
                    filename=p.filename,
                    page=p.page,
                    heading=p.heading,
                    text=p.text,
                    score=p.score,
                )
                for p in passages
            ]
        )


def clean_filename(name: str) -> str:
    """The upload's file name without control characters, at most 255 characters."""
    return _CONTROL.sub("", name).strip()[:255] or "document"


def has_control_characters(value: str) -> bool:
    return bool(_CONTROL.search(value))
