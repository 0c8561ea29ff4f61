"""What the knowledge benchmarks search: labelled sets built offline from the docstrings of Python's standard
library (paraphrase queries, and the same passages with identifier codes written in), and the bench that holds
them in tenants' collections of the pgvector store. Shared by `knowledge_search` and `knowledge_reembed`.
"""

from __future__ import annotations

import importlib
import inspect
import uuid

import numpy as np

from db.database import Database
from knowledge import catalog
from knowledge.embeddings import OFFLINE_DIM, OFFLINE_MODEL, OfflineEmbedder
from knowledge.pgvector_store import PgVectorStore
from tenancy.tenants import create_tenant

MODULES = (
    "os", "os.path", "json", "re", "collections", "itertools", "functools", "pathlib", "shutil", "string",
    "textwrap", "datetime", "random", "statistics", "csv", "zipfile", "tarfile", "argparse", "logging",
    "subprocess", "socket", "threading", "asyncio", "urllib.parse", "http.client", "email.message", "heapq",
    "bisect", "math", "decimal", "fractions", "hashlib", "hmac", "secrets", "base64", "struct", "codecs",
    "difflib", "inspect", "dataclasses", "enum", "typing", "contextlib", "tempfile", "glob", "fnmatch",
    "sqlite3", "uuid", "time", "calendar", "copy", "pprint", "operator", "io", "gzip", "pickle", "shlex",
)  # fmt: skip
APP_PASSWORD = "bench-app-password"
PEPPER = "bench-pepper"


def labelled_pairs(limit: int) -> list[tuple[str, str, str]]:
    """(query, heading, passage) from stdlib docstrings: the first sentence asks, the rest answers."""
    pairs: list[tuple[str, str, str]] = []
    seen: set[str] = set()
    for name in MODULES:
        module = importlib.import_module(name)
        for attr, value in sorted(vars(module).items()):
            if attr.startswith("_") or not (inspect.isfunction(value) or inspect.isclass(value)):
                continue
            doc = inspect.getdoc(value) or ""
            first, _, rest = doc.partition(".")
            first, rest = " ".join(first.split()), " ".join(rest.split())
            if len(first.split()) < 5 or len(rest.split()) < 15 or first in seen:
                continue
            seen.add(first)
            pairs.append((first, f"{name}.{attr}", rest))
    rng = np.random.default_rng(5)
    picked = rng.choice(len(pairs), size=min(limit, len(pairs)), replace=False)
    return [pairs[i] for i in sorted(picked)]


class Bench:
    def __init__(self, admin_url: str, app_url: str) -> None:
        self.admin_url = admin_url
        self.db = Database(app_url, pool_size=4)
        self.store = PgVectorStore(self.db.tenant_session)
        self.embedder = OfflineEmbedder(threads=2)

    async def tenant_with_collection(self, label: str) -> tuple[str, str]:
        created = await create_tenant(self.admin_url, name=f"{label} {uuid.uuid4().hex[:6]}", plan="pro", pepper=PEPPER)
        async with self.db.tenant_session(created.tenant_id) as session:
            collection = await catalog.create_collection(
                session, created.tenant_id, name=label, description="", model=OFFLINE_MODEL, dim=OFFLINE_DIM
            )
        assert collection is not None
        return created.tenant_id, collection.id

    async def document(self, tenant_id: str, collection_id: str, name: str) -> str:
        async with self.db.tenant_session(tenant_id) as session:
            document, _ = await catalog.add_document(
                session, tenant_id, collection_id, filename=name, media_type="text/plain",
                content=name.encode() + uuid.uuid4().bytes, groups=[], metadata={},
            )  # fmt: skip
        return document.id


def identifier_pairs(labelled: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """(query, heading, passage): each passage with a code of its own written into it (a product, order or error
    code of letters and digits), the query that code alone or with a few generic words. Deterministic."""
    rng = np.random.default_rng(11)
    letters = np.array(list("ABCDEFGHJKLMNPQRSTUVWXYZ"))
    codes: list[str] = []
    while len(codes) < len(labelled):
        prefix = "".join(rng.choice(letters, size=2))
        number = int(rng.integers(1000, 100_000))
        code = (f"{prefix}-{number}", f"{prefix[0]}{number}", f"ORD-{number}-{prefix}")[len(codes) % 3]
        if code not in codes:
            codes.append(code)
    asks = ("{}", "what is {}", "error {} details", "{} specification and notes")
    pairs = []
    for i, ((_q, heading, passage), code) in enumerate(zip(labelled, codes, strict=True)):
        words = passage.split()
        at = int(rng.integers(0, len(words)))
        pairs.append((asks[i % len(asks)].format(code), heading, " ".join([*words[:at], f"({code})", *words[at:]])))
    return pairs
