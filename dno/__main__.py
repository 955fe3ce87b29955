"""`python -m dno ...`: the `dno` command, for environments where the console script is not on PATH."""

import sys

from dno.cli import main

sys.exit(main())
