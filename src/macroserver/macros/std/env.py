"""Environment macros: senv, usenv, lsenv, genv and newfile."""

from __future__ import annotations

import os
from typing import Any

from macroserver.engine.environment import EnvView
from macroserver.env import normalized_name, parse_value
from macroserver.errors import EnvError, ParamError
from macroserver.macros import ENV_NAME, INTEGER, LITERAL, MACRO_NAME, STRING, Macro, Param, Repeat
from macroserver.macros.std.tables import table_lines

VALUE_WIDTH = 54


def _list_items(values: list[Any]) -> list[Any]:
    """The items of a list typed as words: Sardana's clients split `['a.h5','b.dat']`
    into `a.h5` and `,'b.dat'` (or `,` alone); the commas separate, they are not items."""
    items = []
    for value in values:
        if isinstance(value, str) and (value.startswith(",") or value.endswith(",")):
            value = value.strip(",").strip()
            if not value:
                continue
            value = parse_value(value)
        items.append(value)
    return items


class senv(Macro):
    """Set an environment variable: senv ScanDir /data/sample1, senv JsonRecorder True.

    The value is read as a Python literal (number, string, list, True/False, None);
    anything else is kept as text. Several words, or a [ ] group such as
    ['a.h5', 'b.dat'], make a list. Nothing is ever executed.
    """

    params = [
        Param("name", ENV_NAME, description="environment variable name"),
        Repeat("value", [Param("value", LITERAL, description="value")], min=1,
               description="value (several words or a [ ] group make a list)"),
    ]

    def run(self, name: str, values: list[Any]) -> None:
        value = values[0] if len(values) == 1 else _list_items(values)
        self.env.update({name: value})
        self.output(f"{name} = {self.server.env.get(normalized_name(name))!r}")  # as stored


class usenv(Macro):
    """Remove environment variables."""

    params = [Repeat("names", [Param("name", ENV_NAME, description="variable to remove")],
                     min=1)]

    def run(self, names: list[str]) -> None:
        self.env.update({}, names)
        self.output("Success!")


class genv(Macro):
    """Show the value of one environment variable (as seen on this door)."""

    params = [Param("name", ENV_NAME, description="environment variable name")]
    results = [Param("value", STRING, description="the value, as a Python literal")]

    def run(self, name: str) -> Any:
        if name not in self.env:
            raise EnvError(f"environment variable {name!r} is not defined")
        value = self.env.get(name)
        self.output(f"{name} = {value!r}")
        return repr(value)


def _cell(value: Any) -> str:
    text = repr(value)
    return text[: VALUE_WIDTH - 3] + "..." if len(text) > VALUE_WIDTH else text


class lsenv(Macro):
    """List the environment: name, value and type of every variable, scoped ones
    (door/x/1.ScanFile, ascan.ScanFile, door/x/1.ascan.ScanFile) included. With macro
    names (lsenv ascan mesh): the variables as those macros see them on this door."""

    params = [Repeat("macro_list", [Param("macro", MACRO_NAME, description="macro name")],
                     min=0, description="macros whose view of the environment to show")]

    def run(self, macros: list[str]) -> None:
        if macros:
            rows = [["Macro", "Name", "Value", "Type"]]
            for name in macros:
                view = EnvView(self.server.env, self.context.door_name,
                               self.server.macros.get(name).name)
                rows += [[name, var, _cell(view.get(var)), type(view.get(var)).__name__]
                         for var in view]
        else:
            store = self.server.env
            rows = [["Name", "Value", "Type"]]
            rows += [[name, _cell(store.get(name)), type(store.get(name)).__name__]
                     for name in store]
        for line in table_lines(rows):
            self.output(line)


class newfile(Macro):
    """Choose the scan files: newfile /data/s1/scans.h5 /data/s1/scans.dat [ScanID].

    Sets ScanDir (the folder, the same for all files), ScanFile (the names) and, when a
    ScanID is given, the number the next scan continues from. Give files as a [ ] group
    when a ScanID follows: newfile [/data/s1/a.h5 /data/s1/a.dat] 10.
    """

    params = [
        Repeat("ScanFile_path_list", [Param("ScanFile_path", STRING,
                                            description="(ScanDir/)ScanFile")], min=1),
        Param("ScanID", INTEGER, -1, "number of the scan before the next one (-1: keep)"),
    ]

    def run(self, paths: list[str], scan_id: int) -> None:
        folders = {os.path.dirname(p) for p in paths}
        if len(folders) > 1:
            raise ParamError(f"all scan files must be in one folder, got {sorted(folders)}")
        folder = folders.pop() or self.env.get("ScanDir")
        if not folder:
            raise ParamError("give the folder with the file name (ScanDir is not defined)")
        changes: dict[str, Any] = {"ScanDir": folder,
                                   "ScanFile": [os.path.basename(p) for p in paths]}
        if scan_id >= 0:
            changes["ScanID"] = scan_id
        self.env.update(changes)
        self.output(f"ScanDir is: {folder}")
        self.output(f"ScanFile set to: {', '.join(changes['ScanFile'])}")
        self.output(f"Next scan is #{self.env.get('ScanID', 0) + 1}")
