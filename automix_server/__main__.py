"""``python -m automix_server ...``: the same as ``automix serve ...``."""

import sys

from .cli import main

sys.exit(main())
