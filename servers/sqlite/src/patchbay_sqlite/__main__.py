from patchbay_sqlite.server import main

main()
