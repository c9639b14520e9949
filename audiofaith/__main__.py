import sys

from audiofaith.cli.main import main

sys.exit(main())
