"""expconf on a door: measurement groups, their channels and the next ScanID; then one
channel disabled and the scan file changed through the editor, and applied. Its element
tree is built again once the MacroServer's elements have arrived (under load they had
arrived when the tree was first built; Sardana's model then needs each motor's and
channel's parent, a Controller, among the elements).

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


def tree_children(run: Run, model) -> dict[str, list[str]]:
    """Name -> names of its children, of every node below the element tree's type nodes."""
    children: dict[str, list[str]] = {}

    def walk(parent) -> None:
        for row in range(model.rowCount(parent)):
            index = model.index(row, 0, parent)
            names = [str(model.index(r, 0, index).data()) for r in range(model.rowCount(index))]
            if names:
                children[str(index.data())] = names
            walk(index)

    walk(run.Qt.QModelIndex())
    return children


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
    macro_server = editor.getModelObj().macro_server
    run.wait_until(lambda: macro_server.getElementsOfType("Motor"), 10, "elements")
    tree = ui.sardanaElementTree.getBaseQModel()
    tree.refresh()
    run.result["tree"] = tree_children(run, tree)
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
