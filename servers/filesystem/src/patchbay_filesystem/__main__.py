from patchbay_filesystem.server import main

main()
