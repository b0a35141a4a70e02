"""``python -m automix_core.backends.local install|list|path``: the same as ``automix models ...``."""

import sys

from ...cli.models import main

sys.exit(main())
