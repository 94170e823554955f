"""Where agent processes run: the executor protocol, the local executor, and finding and
ending every process a task started."""
