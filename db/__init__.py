"""The database: engine, tenant-scoped sessions under row-level security, ids, migrations, the codec's key store."""
