"""The command line: one module per concern, and the one map from errors to exit codes."""
