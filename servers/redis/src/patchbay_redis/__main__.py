from patchbay_redis.server import main

main()
