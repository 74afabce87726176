"""Authentication (API keys) and authorization (casbin RBAC with tenants as domains)."""
