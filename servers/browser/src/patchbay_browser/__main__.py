"""`patchbay-browser` and `python -m patchbay_browser`: start the server."""

from patchbay_common.launch import launch


def main() -> None:
    """Console entry point: `patchbay-browser [flags]` (collection paused while it loads: `launch`)."""
    launch("patchbay_browser.server")


if __name__ == "__main__":
    main()
