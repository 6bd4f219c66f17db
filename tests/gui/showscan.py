"""showscan online on a door: a scan run through the door is plotted and its last point
fills the point panel.

argv: door, command (a scan) run once the window follows the door.
"""

from __future__ import annotations

import sys

from harness import Run, drive


def scenario(run: Run, door: str, command: str) -> None:
    import tango
    from sardana.taurus.qt.qtgui.extra_sardana.showscanonline import ScanWindow

    window = ScanWindow()
    window.setModel(door)
    window.show()
    run.settle(1.0)
    proxy = tango.DeviceProxy(door)
    proxy.RunMacro(command.split())
    run.wait_until(lambda: proxy.state() == tango.DevState.ON and run.settle_once(), 60,
                   "scan end")
    plots = window.plot_widget._plots
    run.result["curves"] = {curve.name(): list(curve.getData()[1])
                            for plot in plots for curve in plot.curves}
    form = window.point_form
    run.result["point_panel"] = {name: str(value.text())
                                 for name, (_, value) in getattr(form, "fields", {}).items()}
    run.result["scan_number"] = str(form.scan_nb_value.text())


if __name__ == "__main__":
    drive("showscan", lambda run: scenario(run, sys.argv[1], sys.argv[2]))
