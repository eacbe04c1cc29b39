"""`patchbay-search` and `python -m patchbay_search`: start the server."""

from patchbay_common.launch import launch


def main() -> None:
    """Console entry point: `patchbay-search [flags]` (collection paused while it loads: `launch`)."""
    launch("patchbay_search.server")


if __name__ == "__main__":
    main()
