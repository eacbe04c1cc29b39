"""patchbay-redis: an MCP server for Redis."""

__version__ = "0.1.0"
