"""patchbay-slack: Slack for MCP clients."""

__version__ = "0.1.0"
