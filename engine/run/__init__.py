"""Running a plan: the supervisor loop, attempts, the failure policy, resuming."""
