"""``python -m mmlens.cli`` is the ``mmlens`` command."""

import sys

from mmlens.cli import main

sys.exit(main())
