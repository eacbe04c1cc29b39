"""patchbay-github: GitHub for MCP clients, through PyGithub."""

__version__ = "0.1.0"
