"""patchbay-fetch: web pages to clean Markdown behind an egress guard."""

__version__ = "0.1.0"
