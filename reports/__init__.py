"""Reports: analytics queries and charts for marketers (issue #7)."""
