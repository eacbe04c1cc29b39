"""patchbay-sqlite: an MCP server for SQLite databases."""

__version__ = "0.1.0"
