"""Alembic migrations of the socialcrm schema (run with `socialcrm db upgrade`)."""
