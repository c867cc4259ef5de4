"""Engagement: the work queue, routing, SLA and the Discord adapter (issue #6)."""
