"""The plan, pure: CASCADE.md text -> tasks and settings -> the task graph -> prompts."""
