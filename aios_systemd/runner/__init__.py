"""The run lifecycle: locks, latest-run state, the private run log, handlers."""
