"""Customers, identities, linking, enriched profiles and CRM connectors (issue #5)."""
