"""patchbay_common: what every patchbay MCP server shares.

Import the module you need (`patchbay_common.app`, `.roots`, `.limits`, ...): this package imports
nothing heavy by itself, so a server pays only for what it uses at start-up.
"""

__version__ = "0.1.0"
