from patchbay_fetch.server import main

main()
