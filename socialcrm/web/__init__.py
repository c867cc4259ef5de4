"""The web dashboard and REST API: an entry point that wires the stages into HTTP (issue #7)."""
