"""``python -m audiofaith.report OUTPUTS``: the same as ``audiofaith report OUTPUTS``."""

import sys

from audiofaith.report.cli import main

sys.exit(main())
