"""mspock's exit statuses, one per way a macro can end, so `mspock -c ... || ...` can tell them apart."""

from __future__ import annotations

EXIT_OK, EXIT_ERROR, EXIT_STOPPED, EXIT_ABORTED = 0, 1, 2, 3
EXIT_FOR_STATE = {"finish": EXIT_OK, "exception": EXIT_ERROR, "stop": EXIT_STOPPED,
                  "abort": EXIT_ABORTED}
