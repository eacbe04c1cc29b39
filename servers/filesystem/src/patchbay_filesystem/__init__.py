"""patchbay-filesystem: an MCP server for the files inside the directories an operator allows."""

__version__ = "0.1.0"
