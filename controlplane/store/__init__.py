"""Storage: SQLAlchemy models, tenant scoping, repositories, migrations."""
