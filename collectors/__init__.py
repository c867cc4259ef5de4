"""Collectors: one module per platform; each fetches mentions (and, where it can, posts replies)."""
