"""Disaster-recovery drills: copies of the embedded stack's three stores, and a scratch stack restored from them.

`backup` copies Postgres (a base backup with its WAL streamed), Redis (a BGSAVE snapshot) and the Temporal dev
server's SQLite file while they run; `pgstats` takes the per-tenant numbers the restore is compared with;
`scratch` starts the stores on the copies, on other ports under a scratch dir, and stops them again.
"""
