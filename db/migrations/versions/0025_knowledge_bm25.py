"""Knowledge: a BM25 index that returns a ranked top-k, where the server has `pg_textsearch`.

Full-text search over `tsvector` can find a query's matches through GIN but not rank them there: an any-word
query on a 100k-chunk collection matches ~10% of it, and every match had to be fetched and ranked before the
best 50 were known (the slow half of hybrid search). `pg_textsearch`'s `bm25` index scans in score order
(Block-Max WAND) and stops once the filters have let enough rows through, so the full-text list costs about
what the vector list costs. Its rows are scored by BM25, which is also a better ranking than `ts_rank_cd`.

The index needs the library in `shared_preload_libraries` (the embedded server loads it when its build has
it; see `core/stack/postgres.py`). Where it is not loaded (a managed Postgres without the extension), this
revision changes nothing and search keeps the `tsvector` path, as it does for a role that may not create the
extension where nobody has (a managed database's non-superuser owner); `knowledge.store` picks the path by whether
`ix_knowledge_chunks_bm25` exists. `pg_textsearch` 1.0 indexes columns only, not expressions, so the text it
ranks (heading and body, as the `tsvector` has) is a generated column.

Revision ID: 0025
Revises: 0024
"""

from __future__ import annotations

from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

INDEX = "ix_knowledge_chunks_bm25"
_AVAILABLE = (
    "EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_textsearch')"
    " AND current_setting('pg_textsearch.library_version', true) IS NOT NULL"
)


def upgrade() -> None:
    # A role that may not create extensions (a managed database's non-superuser owner, where an administrator
    # enables them) keeps the `tsvector` path unless the extension is already there.
    op.execute(
        f"""DO $$ BEGIN IF {_AVAILABLE} THEN
            BEGIN
                CREATE EXTENSION IF NOT EXISTS pg_textsearch;
            EXCEPTION WHEN insufficient_privilege THEN
                RAISE NOTICE 'pg_textsearch may not be installed by this role: full text stays on tsvector';
            END;
            IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_textsearch') THEN
                ALTER TABLE knowledge_chunks ADD COLUMN IF NOT EXISTS search_text text
                    GENERATED ALWAYS AS (heading || ' ' || text) STORED;
                CREATE INDEX IF NOT EXISTS {INDEX} ON knowledge_chunks USING bm25 (search_text)
                    WITH (text_config = 'english');
            END IF;
        END IF; END $$"""  # noqa: S608 - built from this module's constants only
    )


def downgrade() -> None:
    op.execute(f"DROP INDEX IF EXISTS {INDEX}")
    op.execute("ALTER TABLE knowledge_chunks DROP COLUMN IF EXISTS search_text")
