"""`patchbay-github` and `python -m patchbay_github`: start the server."""

from patchbay_common.launch import launch


def main() -> None:
    """Console entry point: `patchbay-github [flags]` (collection paused while it loads: `launch`)."""
    launch("patchbay_github.server")


if __name__ == "__main__":
    main()
