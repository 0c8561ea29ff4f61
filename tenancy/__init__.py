"""Tenants, API keys, the tenant-scoped database session under row-level security, and migrations."""
