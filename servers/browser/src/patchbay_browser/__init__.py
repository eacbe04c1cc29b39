"""patchbay-browser: a headless Chromium for a model, with capped snapshots and an egress guard."""

__version__ = "0.1.0"
