"""`patchbay-redis` and `python -m patchbay_redis`: start the server."""

from patchbay_common.launch import launch


def main() -> None:
    """Console entry point: `patchbay-redis [flags]` (collection paused while it loads: `launch`)."""
    launch("patchbay_redis.server")


if __name__ == "__main__":
    main()
