"""The known-works tables' Alembic branch, registered under `provenant.migrations`."""
