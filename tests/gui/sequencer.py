"""sequencer on a door: the macro list and a plain-text sequence loaded from a file.

argv: door, sequence file (one macro per line, # comments).
"""

from __future__ import annotations

import sys

from harness import Run, drive


def scenario(run: Run, door: str, path: str) -> None:
    from sardana.taurus.qt.qtgui.extra_macroexecutor.sequenceeditor.sequenceeditor import (
        createSequencer,
    )

    window = createSequencer(door)
    window.show()
    widget = window.taurusSequencerWidget
    combo = widget.macroComboBox
    run.wait_until(lambda: combo.count() > 10, 30, "macro list")
    run.result["macros"] = [combo.itemText(i) for i in range(combo.count())]
    widget.loadFile(path)
    macros = widget._sequenceModel.root().allMacros()
    run.result["sequence"] = [m.toSpockCommand().strip() for m in macros]
    run.result["play_enabled"] = widget.playSequenceAction.isEnabled()


if __name__ == "__main__":
    drive("sequencer", lambda run: scenario(run, sys.argv[1], sys.argv[2]))
