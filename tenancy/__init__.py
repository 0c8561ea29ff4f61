"""Tenants, plans, principals, API keys, JWT, permissions, audit and the tenant lifecycle."""
