from patchbay_search.server import main

main()
