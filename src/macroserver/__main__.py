"""`python -m macroserver ...`: the `macroserver` command, wherever scripts are installed."""

import sys

from macroserver.cli.admin import main

sys.exit(main())
