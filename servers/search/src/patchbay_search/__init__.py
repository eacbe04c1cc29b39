"""patchbay-search: an MCP server for the Brave Search API."""

__version__ = "0.1.0"
