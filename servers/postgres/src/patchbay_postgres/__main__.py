from patchbay_postgres.server import main

main()
