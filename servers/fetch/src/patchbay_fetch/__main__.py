"""`patchbay-fetch` and `python -m patchbay_fetch`: start the server."""

from patchbay_common.launch import launch


def main() -> None:
    """Console entry point: `patchbay-fetch [flags]` (collection paused while it loads: `launch`)."""
    launch("patchbay_fetch.server")


if __name__ == "__main__":
    main()
