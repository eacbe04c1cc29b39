from patchbay_browser.server import main

main()
