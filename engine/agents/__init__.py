"""Agent adapters: the only code that knows an agent CLI's flags and output."""
