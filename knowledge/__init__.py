"""Knowledge: tenants' documents, ingested durably and searched under row-level security (see
docs/architecture.md, "Knowledge")."""
