"""Echo server of bench/transport_vs_official.py: a PatchbayServer, or with --plain the SDK's bare MCPServer.

    python bench/transport_echo_server.py [--transport streamable-http --port N]   patchbay, via serve()
    python bench/transport_echo_server.py --plain stdio|PORT                        the SDK alone
    python bench/transport_echo_server.py --plain-stateless PORT      the SDK alone, stateless JSON HTTP

The patchbay one is built exactly like a real server (patchbay_common.app.serve), so the figures include
everything every patchbay server pays per call: request id, one log line, deadline, the result pipeline.
"""

from __future__ import annotations

import sys


def plain(where: str, stateless: bool = False) -> None:
    from mcp.server import MCPServer

    mcp = MCPServer("sdk-echo")

    @mcp.tool()
    def echo(text: str) -> str:
        """Return the text."""
        return text

    if where == "stdio":
        mcp.run()
    else:
        mcp.run(
            "streamable-http",
            host="127.0.0.1",
            port=int(where),
            stateless_http=stateless,
            json_response=stateless,
        )


def patchbay() -> None:
    from patchbay_common.app import PatchbayServer, serve
    from patchbay_common.settings import CommonSettings, settings_config

    class Settings(CommonSettings):
        model_config = settings_config("echo")

    def build(settings: Settings) -> PatchbayServer:
        mcp = PatchbayServer("patchbay-echo", version="0", settings=settings)

        @mcp.tool()  # declared read-only (the default access): the layer derives the annotations
        async def echo(text: str) -> str:
            """Return the text."""
            return text

        return mcp

    serve(build, Settings)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--plain"]:
        plain(sys.argv[2])
    elif sys.argv[1:2] == ["--plain-stateless"]:
        plain(sys.argv[2], stateless=True)
    else:
        patchbay()
