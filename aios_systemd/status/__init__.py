"""Operator status: a pure model (state + config + timer facts → report) and renderers."""
