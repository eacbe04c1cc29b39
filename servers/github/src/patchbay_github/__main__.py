from patchbay_github.server import main

main()
