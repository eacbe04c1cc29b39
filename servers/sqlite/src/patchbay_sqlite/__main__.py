"""`patchbay-sqlite` and `python -m patchbay_sqlite`: start the server."""

from patchbay_common.launch import launch


def main() -> None:
    """Console entry point: `patchbay-sqlite [flags]` (collection paused while it loads: `launch`)."""
    launch("patchbay_sqlite.server")


if __name__ == "__main__":
    main()
