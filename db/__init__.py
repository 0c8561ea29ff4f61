"""The database: engine, the tenant-scoped session under row-level security, SQL helpers and migrations."""
