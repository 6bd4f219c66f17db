"""taurusform of devices (the Door, the MacroServer): every attribute shows a value.

argv: device names. The result lists, per attribute, the text its read widget shows.
"""

from __future__ import annotations

import sys

from harness import Run, drive

EMPTY = ("", "-----", "None")  # what a TaurusLabel shows before it has a value


def shown(value_widget) -> str:
    """What the read widget shows: its text, or for a LED or a "Show" button (spectra) the
    value it holds ("None" while it has none)."""
    widget = value_widget.readWidget()
    if widget is None:
        return "<no read widget>"
    text = str(widget.text()) if hasattr(widget, "text") else ""
    if text and text != "Show":
        return text
    value = widget.getModelValueObj() if hasattr(widget, "getModelValueObj") else None
    return "None" if value is None else repr(value.rvalue)[:80]


def scenario(run: Run, devices: list[str]) -> None:
    import taurus
    from taurus.qt.qtgui.panel import TaurusForm

    models = []
    for device in devices:
        proxy = taurus.Device(device).getDeviceProxy()
        models += [f"{device}/{name}" for name in proxy.get_attribute_list()]
    form = TaurusForm()
    form.setModel(models)
    form.show()

    def values() -> dict[str, str]:
        return {str(item.getModel()):
                shown(item) for item in form.getItems()}

    run.wait_until(lambda: all(v not in EMPTY for v in values().values()), 20, "every value")
    run.result["values"] = values()


if __name__ == "__main__":
    drive("taurusform", lambda run: scenario(run, sys.argv[1:]))
