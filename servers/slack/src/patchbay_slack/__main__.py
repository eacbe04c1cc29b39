"""`patchbay-slack` and `python -m patchbay_slack`: start the server."""

from patchbay_common.launch import launch


def main() -> None:
    """Console entry point: `patchbay-slack [flags]` (collection paused while it loads: `launch`)."""
    launch("patchbay_slack.server")


if __name__ == "__main__":
    main()
