"""Print, as JSON, every public macro of the installed Sardana (name -> library), found as
its MacroServer finds them: the modules of sardana/macroserver/macros (not its examples
or tests), each object that Sardana's own `is_macro` accepts, without a leading `_`.

Run in a child process: Sardana's parameter types are filled by its MacroServer, so
here any type name is taken as itself (the modules only need the names to import).
"""

from __future__ import annotations

import importlib
import json
import os
import pkgutil


def main() -> None:
    from sardana.macroserver.msparameter import Type

    Type.__class__ = type("AnyTypeNames", (Type.__class__,),
                          {"__getattr__": lambda self, name: name})
    import sardana.macroserver.macros as package
    from sardana.macroserver.msmacromanager import is_macro

    found: dict[str, str] = {}
    for info in pkgutil.iter_modules(package.__path__):
        if info.ispkg:
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        path = os.path.abspath(module.__file__ or "")
        for name, value in vars(module).items():
            if not name.startswith("_") and is_macro(value, abs_file=path):
                found[name] = info.name
    print(json.dumps(found, sort_keys=True))


if __name__ == "__main__":
    main()
