"""What every GUI script of tests/test_sardana_gui.py shares: an offscreen Taurus
application, dialogs recorded instead of shown, bounded waits, one JSON result line.

The scripts run in a child process (a Qt crash cannot take pytest down) with
QT_QPA_PLATFORM=offscreen and HOME in a temporary folder (Taurus keeps its settings there).
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

RESULT_PREFIX = "GUI-RESULT "


class Run:
    """The application and what the GUI showed: dialogs and uncaught exceptions."""

    def __init__(self, app_name: str) -> None:
        from taurus.external.qt import Qt
        from taurus.qt.qtgui.application import TaurusApplication

        self.Qt = Qt
        self.app = TaurusApplication([app_name], app_name=app_name, org_name="sardana-test")
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        self.result: dict[str, Any] = {}
        self._record_dialogs()
        sys.excepthook = self._excepthook

    def _record_dialogs(self) -> None:
        box = self.Qt.QMessageBox
        for kind in ("warning", "critical", "information", "question"):
            def shown(*args: Any, kind: str = kind) -> Any:
                texts = [str(a) for a in args[1:3]]
                self.dialogs.append(f"{kind}: {' / '.join(texts)}")
                return box.Yes if kind == "question" else box.Ok
            setattr(box, kind, staticmethod(shown))

        def exec_(dialog: Any) -> int:
            self.dialogs.append(f"dialog: {dialog.text() if hasattr(dialog, 'text') else dialog}")
            return 0
        box.exec_ = exec_

    def _excepthook(self, kind: type, value: BaseException, tb: Any) -> None:
        text = "".join(traceback.format_exception(kind, value, tb))
        print(text, file=sys.stderr, flush=True)
        self.errors.append(text[-2000:])

    def wait_until(self, predicate: Callable[[], Any], timeout: float, what: str) -> bool:
        """Process events until `predicate()` is true; False (and noted) after `timeout`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.app.processEvents(self.Qt.QEventLoop.AllEvents, 50)
            try:
                ready = bool(predicate())
            except Exception:  # noqa: BLE001 - a widget not built yet: look again
                ready = False
            if ready:
                return True
            time.sleep(0.02)
        self.result.setdefault("timeouts", []).append(what)
        return False

    def settle(self, seconds: float) -> None:
        """Process events for `seconds` (events already queued get handled)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.app.processEvents(self.Qt.QEventLoop.AllEvents, 50)
            time.sleep(0.02)

    def settle_once(self) -> bool:
        """True after one more second of events (a condition then holds with its events
        handled)."""
        self.settle(1.0)
        return True

    def finish(self) -> None:
        self.result["dialogs"] = self.dialogs
        self.result["errors"] = self.errors
        print(RESULT_PREFIX + json.dumps(self.result, default=str), flush=True)


def drive(app_name: str, scenario: Callable[[Run], None]) -> None:
    """Run `scenario` and print its result, also when it fails half-way."""
    run = Run(app_name)
    try:
        scenario(run)
    except Exception:  # noqa: BLE001 - reported in the result, with what was seen so far
        run._excepthook(*sys.exc_info())  # type: ignore[arg-type]
    finally:
        run.finish()
