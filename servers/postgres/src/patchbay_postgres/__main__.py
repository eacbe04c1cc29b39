"""`patchbay-postgres` and `python -m patchbay_postgres`: start the server."""

from patchbay_common.launch import launch


def main() -> None:
    """Console entry point: `patchbay-postgres [flags]` (collection paused while it loads: `launch`)."""
    launch("patchbay_postgres.server")


if __name__ == "__main__":
    main()
