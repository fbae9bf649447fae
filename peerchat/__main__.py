import sys

from peerchat.cli import main

sys.exit(main())
