"""`patchbay-filesystem` and `python -m patchbay_filesystem`: start the server."""

from patchbay_common.launch import launch


def main() -> None:
    """Console entry point: `patchbay-filesystem [flags]` (collection paused while it loads: `launch`)."""
    launch("patchbay_filesystem.server")


if __name__ == "__main__":
    main()
