"""Early exit: an exact repeat of a recent question, with nothing changed that could change the answer, is
answered from a short-lived cache instead of a model call.

The key is a hash of the tenant, the agent, the agent's stored version and stamp (`agents.stamp`: its newest
definition and the tenant's tool switches), the tenant's knowledge version (its collections' and documents'
count and newest change) and the question normalised (case, whitespace and punctuation folded). Any change of
the agent or the knowledge gives another key, so the old answer is never served again; it expires on its own.

The answers live in Redis with a TTL (`router_early_exit_ttl_seconds`, ten minutes by default), not in
Postgres: they are a cache of recent repeats, not a record; Redis expires them without a sweeper, the
tenant's hash tag in every key lets tenant erasure (`purge_redis`) remove them with the rest, and an answer's
text stays only minutes, where a Postgres table would have to seal it (`core.crypto.fields`), sweep it and
add an erasure rule for a cache.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata

from redis.asyncio import Redis
from sqlmodel.ext.asyncio.session import AsyncSession

from db.database import run_sql

DEFAULT_TTL_SECONDS = 600
# Longer questions are not cached: a repeat of a long text is rare and the key would hash a lot for nothing.
MAX_QUESTION_CHARS = 2000
MAX_ANSWER_CHARS = 20_000

_PUNCTUATION = re.compile(r"[^\w\s]+", re.UNICODE)
_SPACE = re.compile(r"\s+", re.UNICODE)

_KNOWLEDGE = (
    "SELECT (SELECT count(*) FROM knowledge_collections) AS collections,"
    " (SELECT coalesce(to_char(max(created_at), 'YYYYMMDDHH24MISSUS'), '') FROM knowledge_collections) AS made,"
    " (SELECT count(*) FROM knowledge_documents) AS documents,"
    " (SELECT coalesce(to_char(max(updated_at), 'YYYYMMDDHH24MISSUS'), '') FROM knowledge_documents) AS changed"
)


def normalise(question: str) -> str:
    """Case, width, whitespace and punctuation folded: "Opening hours?" and " opening  HOURS " are one."""
    text = unicodedata.normalize("NFKC", question).casefold()
    return _SPACE.sub(" ", _PUNCTUATION.sub(" ", text)).strip()


async def knowledge_version(session: AsyncSession) -> str:
    """The tenant's knowledge version (RLS scopes both tables): a collection or document added, changed or
    removed moves it."""
    row = (await run_sql(session, _KNOWLEDGE)).one()
    return f"c{row.collections}:{row.made}:d{row.documents}:{row.changed}"


def cache_key(tenant_id: str, agent: str, agent_version: int, stamp: str, knowledge: str, question: str) -> str:
    """The Redis key; the question is hashed, so no customer text sits in a key name."""
    digest = hashlib.sha256(
        "\x1f".join((agent, str(agent_version), stamp, knowledge, normalise(question))).encode()
    ).hexdigest()
    return f"aiaas:early:{{{tenant_id}}}:{digest}"


class AnswerCache:
    def __init__(self, redis: Redis, ttl_seconds: int = DEFAULT_TTL_SECONDS) -> None:
        self._redis = redis
        self._ttl = ttl_seconds

    async def get(self, key: str) -> tuple[str, str] | None:
        """(answer, model) kept under `key`, None when there is none."""
        raw = await self._redis.get(key)
        if raw is None:
            return None
        data = json.loads(raw)
        return str(data["answer"]), str(data.get("model", ""))

    async def put(self, key: str, answer: str, model: str) -> None:
        await self._redis.set(key, json.dumps({"answer": answer, "model": model}), ex=self._ttl)


def qualifies(question: str) -> bool:
    """A question worth a key: something left after normalising, and not too long."""
    return bool(normalise(question)) and len(question) <= MAX_QUESTION_CHARS


def keepable(answer: str) -> bool:
    """An answer worth keeping: not empty, not too long."""
    return 0 < len(answer) <= MAX_ANSWER_CHARS
