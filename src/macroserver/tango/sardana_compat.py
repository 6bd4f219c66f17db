"""Sardana's encodings of the MacroServer's members, as its clients decode them.

`Elements` is `utf8_json` `{"new": [element info, ...]}` (events also carry `change` and
`del`): macros in Sardana's macro info form, their libraries, recorders, parameter types
and the pool's motors, channels and measurement groups (pool_elements.py), each with its
`type` and the `interfaces` Sardana's clients select by (spock makes a command of every
`MacroCode`).
`Environment` reads as `{"new": env}`; its change events carry the whole environment in
`new` plus the removed names in `del`, so each event stands on its own.
Our own clients read the same members: there is one format, Sardana's.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any, Iterable

from macroserver.engine.core import MacroServerCore
from macroserver.engine.params import ParamType

# Sardana's interface names of the MacroServer's own element types (its type hierarchy,
# expanded; those of pool elements are in pool_elements.py)
INTERFACES: dict[str, list[str]] = {
    "MacroLibrary": ["Object", "Library", "MacroServerObject", "MacroLibrary"],
    "RecorderLibrary": ["Object", "Library", "RecorderLibrary"],
    "RecorderClass": ["Object", "Class", "RecorderClass"],
    "ParameterType": ["Meta", "ParameterType"],
}
ELEMENT_PARAM_TYPES = {"Motor", "Moveable", "ExpChannel", "MeasurementGroup", "Countable"}


def _element(name: str, elem_type: str, manager: str, full_name: str = "", parent: str = "",
             **extra: Any) -> dict[str, Any]:
    return {"name": name, "full_name": full_name or name, "type": elem_type,
            "interfaces": INTERFACES[elem_type], "manager": manager, "parent": parent, "id": 0,
            **extra}


def _library(cls: type) -> tuple[str, str]:
    """(library name, file) of a plug-in class: its file's name without `.py`."""
    try:
        path = inspect.getfile(cls)
    except TypeError:
        return cls.__module__.rsplit(".", 1)[-1], ""
    return Path(path).stem, path


def macro_infos(core: MacroServerCore, manager: str) -> list[dict[str, Any]]:
    return [{**core.macros.get(name).describe(), "manager": manager, "macro_server": manager}
            for name in core.macros.names()]


def macro_libraries(core: MacroServerCore) -> dict[str, dict[str, Any]]:
    """Library name → {file_path, macros}, from the macros' files."""
    libraries: dict[str, dict[str, Any]] = {}
    for name in core.macros.names():
        cls = core.macros.get(name)
        entry = libraries.setdefault(cls.library(), {"file_path": cls.source_file(),
                                                     "macros": []})
        entry["macros"].append(name)
    return libraries


def recorder_libraries(core: MacroServerCore) -> dict[str, list[str]]:
    libraries: dict[str, list[str]] = {}
    for name in core.recorders.names():
        libraries.setdefault(_library(core.recorders.by_name(name))[0], []).append(name)
    return libraries


def type_names(types: Iterable[ParamType]) -> list[str]:
    """TypeList: element types are marked with `*`, as Sardana does."""
    return sorted(f"{t.name}*" if t.name in ELEMENT_PARAM_TYPES else t.name for t in types)


def elements(core: MacroServerCore, manager: str, types: Iterable[ParamType],
             pool: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Everything `Elements` lists: macros first (a client that fails on one pool
    element, a device it cannot open, has still learnt every macro), then their
    libraries, recorders, parameter types and the `pool` elements' entries."""
    infos = macro_infos(core, manager)
    for library, entry in macro_libraries(core).items():
        path = entry["file_path"]
        infos.append(_element(library, "MacroLibrary", manager, path or library,
                              module=library, file_path=path,
                              path=str(Path(path).parent) if path else "",
                              elements=entry["macros"], description=""))
    for library, names in recorder_libraries(core).items():
        infos.append(_element(library, "RecorderLibrary", manager, elements=names))
        infos += [_element(name, "RecorderClass", manager, f"{library}.{name}", library)
                  for name in names]
    infos += [_element(t.name, "ParameterType", manager) for t in types]
    return infos + pool
