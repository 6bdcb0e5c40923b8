"""``python -m demo --service NAME --port P --outbound URL``: same as ``demo.app``."""

from demo.app import main

main()
