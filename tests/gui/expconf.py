"""expconf on a door: measurement groups, their channels and the next ScanID; then one
channel disabled and the scan file changed through the editor, and applied.

argv: door, channel to disable, new ScanFile.
"""

from __future__ import annotations

import sys

from harness import Run, drive


def channel_rows(run: Run, model) -> list[tuple[str, object]]:
    root = run.Qt.QModelIndex()
    rows = []
    for row in range(model.rowCount(root)):
        rows.append((str(model.index(row, 0, root).data()),
                     model.index(row, 1, root).data(run.Qt.Qt.CheckStateRole)))
    return rows


def scenario(run: Run, door: str, channel: str, scan_file: str) -> None:
    from sardana.taurus.qt.qtgui.extra_sardana.expdescription import ExpDescriptionEditor

    editor = ExpDescriptionEditor()
    editor.setModel(door)
    editor.show()
    ui = editor.ui
    run.wait_until(lambda: ui.activeMntGrpCB.count() > 0, 30, "measurement groups")
    run.result["groups"] = [ui.activeMntGrpCB.itemText(i)
                            for i in range(ui.activeMntGrpCB.count())]
    run.result["active"] = ui.activeMntGrpCB.currentText()
    model = ui.channelEditor.getQModel()
    run.wait_until(lambda: model.rowCount(run.Qt.QModelIndex()) > 0, 10, "channels")
    rows = channel_rows(run, model)
    run.result["channels"] = [name for name, _ in rows]
    run.result["next_scan_id"] = ui.scanIdLE.text()
    run.result["scan_file"] = ui.filenameLE.text()

    row = next(i for i, (name, _) in enumerate(rows) if name == channel)
    root = run.Qt.QModelIndex()
    run.result["set_enabled"] = model.setData(model.index(row, 1, root), False)
    ui.filenameLE.setText(scan_file)
    ui.filenameLE.textEdited.emit(scan_file)
    run.result["dirty"] = editor.isDataChanged()
    run.result["applied"] = editor.writeExperimentConfiguration(ask=False)


if __name__ == "__main__":
    drive("expconf", lambda run: scenario(run, *sys.argv[1:4]))
