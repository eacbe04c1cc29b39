"""patchbay-postgres: an MCP server for PostgreSQL with access tiers that cannot be escaped."""

__version__ = "0.1.0"
