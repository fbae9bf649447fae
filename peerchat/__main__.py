import sys

from peerchat.start import main

sys.exit(main())
