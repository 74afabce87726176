"""``python -m controlplane.cli``: the same as ``mlctl``."""

import sys

from controlplane.cli.main import main

sys.exit(main())
