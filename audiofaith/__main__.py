import sys

from audiofaith.cli import main

sys.exit(main())
