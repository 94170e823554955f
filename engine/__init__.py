"""nova: run a CASCADE.md task graph with one AI coding agent per task."""

__version__ = "0.1.0"
