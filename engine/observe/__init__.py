"""What a run leaves for people and tools: state, journal, logs, usage, status."""
