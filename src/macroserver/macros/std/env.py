"""Environment macros: senv, usenv, lsenv, genv, dumpenv, load_env, newfile and the
view options (lsvo, setvo, usetvo)."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import Any

from macroserver.datafiles import DataPathError
from macroserver.engine.environment import EnvView
from macroserver.env import normalized_name, parse_value
from macroserver.errors import EnvError, ParamError
from macroserver.macros import (
    ENV_NAME,
    INTEGER,
    LITERAL,
    MACRO_NAME,
    POST_NEWFILE,
    STRING,
    Macro,
    Param,
    Repeat,
    run_hooks,
)
from macroserver.macros.std.tables import sardana_list, table_lines
from macroserver.macros.std.viewoptions import VIEW_OPTIONS, view_options

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
    """Choose the scan files: newfile /data/s1/scans.h5 [ScanID].

    Sets ScanDir (the folder, the same for all files), ScanFile (the names) and, when a
    ScanID is given, the number the next scan continues from. As Sardana parses it,
    `newfile scans.h5 7` is one file (in ScanDir) and ScanID 7; several files go in a
    [ ] group: newfile [/data/s1/a.h5 /data/s1/a.dat] 10.
    """

    params = [
        Repeat("ScanFile_path_list", [Param("ScanFile_path", STRING,
                                            description="(ScanDir/)ScanFile")], min=1),
        Param("ScanID", INTEGER, -1, "number of the scan before the next one (-1: keep)"),
    ]
    hook_places = (POST_NEWFILE,)

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
        self.output(f"ScanDir is\t: {folder}")
        first, *others = changes["ScanFile"]
        self.output(f"ScanFile set to\t: {first}")
        for name in others:
            self.output(f"\t\t  {name}")
        self.output(f"Next scan is\t: #{self.env.get('ScanID', 0) + 1}")
        run_hooks(POST_NEWFILE, self.hooks_at(POST_NEWFILE))


def _shown(value: Any, width: int = 74) -> str:
    text = str(value)
    return text[:width] + " [...]" if len(text) > width else text


class dumpenv(Macro):
    """Dumps the complete environment (every variable, scoped ones included)."""

    def run(self) -> None:
        store = self.server.env
        rows = [(name, _shown(store.get(name)), type(store.get(name)).__name__)
                for name in store]
        for line in sardana_list(("Name", "Value", "Type"), rows):
            self.output(line)


class load_env(Macro):
    """Read environment variables from an XML file (Sardana's config_env.xml): every
    value under an <element> (except its <name>) and under <miscellaneous> becomes the
    variable of its tag. The file is looked for in the data roots' folders (ScanDir
    first); values are read as literals, never run."""

    params = [Param("file", STRING, "config_env.xml",
                    "the XML file, in ScanDir or a data root (a name or a path)")]

    def run(self, name: str) -> None:
        path = self._find(name)
        try:
            root = ElementTree.parse(path).getroot()
        except ElementTree.ParseError as exc:
            raise ParamError(f"{path} is not an XML file: {exc}") from None
        changes: dict[str, Any] = {}
        for section in root:
            title = section.findtext("name")
            if title:
                self.output(f"Loading {title} variables:")
            for item in section.iter():
                if item is section or item.tag == "name" or len(item):
                    continue
                changes[item.tag] = parse_value((item.text or "").strip())
                if title:
                    self.output(f"{item.tag} loaded")
        self.env.update(changes)

    def _find(self, name: str) -> Path:
        folders = [self.env.get("ScanDir"), *self.server.data_roots.roots]
        candidates = [(os.path.dirname(name), os.path.basename(name))] if os.path.isabs(name) \
            else [(str(folder), name) for folder in folders if folder]
        for folder, file_name in candidates:
            try:
                resolved = self.server.data_roots.resolve_file(folder, file_name)
            except DataPathError:  # outside the data roots: not looked at
                continue
            if resolved.is_file():
                return resolved
        raise ParamError(f"{name} is not a file in ScanDir or the data roots "
                         f"({', '.join(str(f) for f in folders if f) or 'none configured'})")


def _option_name(name: str) -> str:
    if name not in VIEW_OPTIONS:
        raise ParamError(f"{name!r} is no view option; they are {', '.join(VIEW_OPTIONS)}")
    return name


class lsvo(Macro):
    """Lists the view options"""

    def run(self) -> None:
        rows = [(name, str(value)) for name, value in view_options(self).items()]
        for line in sardana_list(("View option", "Value"), rows):
            self.output(line)


class setvo(Macro):
    """Sets the given view option to the given value: ShowDial (wa, wm), ShowCtrlAxis,
    PosFormat (decimals of positions, -1: as wide as the column), OutputBlock,
    OutputDecimation, DescriptionLength."""

    params = [Param("name", STRING, description="View option name"),
              Param("value", STRING, description="View option value (a literal)")]

    def run(self, name: str, value: str) -> None:
        self.env.set("_ViewOptions", {**view_options(self),
                                      _option_name(name): parse_value(value)})


class usetvo(Macro):
    """Resets the value of the given view option to its default."""

    params = [Param("name", STRING, description="View option name")]

    def run(self, name: str) -> None:
        self.env.set("_ViewOptions", {**view_options(self),
                                      _option_name(name): VIEW_OPTIONS[name]})
