from patchbay_slack.server import main

main()
