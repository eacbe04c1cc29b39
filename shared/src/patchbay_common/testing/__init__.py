"""Helpers for patchbay's own tests: real components (`components`) started on free ports, then torn down."""
