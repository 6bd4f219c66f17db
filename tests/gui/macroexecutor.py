"""macroexecutor on a door: the macro list, ascan's parameter editors, a run to 100 %,
with what a user sees of it: the progress bar's values, the short messages, and the
output pane (Sardana's DoorOutput, connected to the door as its TaurusGUI connects it).

argv: door, command to run (e.g. "ascan theta 0 0.5 5 0.1").
"""

from __future__ import annotations

import sys

from harness import Run, drive


def scenario(run: Run, door: str, command: str) -> None:
    from sardana.taurus.qt.qtgui.extra_macroexecutor.macroexecutor import createMacroExecutor

    window = createMacroExecutor(door)
    window.show()
    widget = window.taurusMacroExecutorWidget
    combo = widget.macroComboBox
    run.wait_until(lambda: combo.count() > 10, 30, "macro list")
    run.result["macros"] = [combo.itemText(i) for i in range(combo.count())]
    name = command.split()[0]
    combo.selectMacro(name)
    run.wait_until(lambda: widget.paramEditorModel().root() is not None
                   and widget.paramEditorModel().root().name() == name, 10, "macro selected")
    model = widget.paramEditorModel()
    root = model.root()
    run.result["parameters"] = [p.name() for p in root.params()]
    tree = widget.standardMacroParametersEditor.tree
    run.result["editor_rows"] = tree.model().rowCount(run.Qt.QModelIndex()) if tree.model() else 0
    # each value typed into its editor (column 1 of the parameter tree), as a user does
    top = run.Qt.QModelIndex()
    for row, value in enumerate(command.split()[1:]):
        model.setData(model.index(row, 1, top), value)
    run.settle(0.5)
    run.result["values"] = [str(p.value()) for p in model.root().params()]
    run.result["spock_line"] = widget.spockCommand.text()
    bar = widget.macroProgressBar
    seen = watch(run, door, widget)
    widget.onPlayMacro()
    run.wait_until(lambda: bar.value() == bar.maximum() == 100, 60, "progress 100 %")
    run.wait_until(lambda: any(" ended at " in line for line in seen["pane"]()), 10,
                   "the scan's end line in the output pane")
    run.wait_until(lambda: seen["messages"][-1].endswith("finished."), 10,
                   f"the finished message (last: {seen['messages'][-3:]})")
    run.result["progress"] = [bar.value(), bar.minimum(), bar.maximum()]
    run.result["pane"] = seen.pop("pane")()
    run.result.update(seen)


def watch(run: Run, door: str, widget: object) -> dict:
    """Record the bar's values, the short messages (the status line of a TaurusGUI), the
    keys of the MacroStatus packets the widget is handed, and an output pane."""
    from sardana.taurus.qt.qtgui.extra_macroexecutor import DoorOutput
    from taurus import Device

    qdoor = Device(door)  # the Sardana QDoor the window listens to
    pane = DoorOutput()
    for stream in ("Output", "Info", "Warning", "Error"):
        getattr(qdoor, f"{stream.lower()}Updated").connect(
            getattr(pane, f"onDoor{stream}Changed"))
    seen: dict = {"bar": [], "messages": [], "status_keys": []}
    widget.macroProgressBar.valueChanged.connect(seen["bar"].append)
    widget.shortMessageEmitted.connect(seen["messages"].append)

    def keys(data: tuple) -> None:
        seen["status_keys"] = sorted({*seen["status_keys"], *data[1][0]})

    qdoor.macroStatusUpdated.connect(keys)
    seen["pane"] = lambda: pane.toPlainText().splitlines()
    return seen


if __name__ == "__main__":
    drive("macroexecutor", lambda run: scenario(run, sys.argv[1], sys.argv[2]))
