"""mspock's exit statuses, one per way a macro can end, so `mspock -c ... || ...` can tell them apart."""

from __future__ import annotations

from macroserver.records import EndStatus

EXIT_OK, EXIT_ERROR, EXIT_STOPPED, EXIT_ABORTED = 0, 1, 2, 3
EXIT_FOR_STATUS = {EndStatus.DONE: EXIT_OK, EndStatus.FAILED: EXIT_ERROR,
                   EndStatus.STOPPED: EXIT_STOPPED, EndStatus.ABORTED: EXIT_ABORTED}
