"""Reading and writing macro libraries (Sardana's GetMacroCode/SetMacroCode, spock's edmac).

A library is a macro file named without `.py`. Any known library can be read; a new one
is offered as a template in the first MacroPath folder. Writing is allowed only to a
`.py` file directly inside a MacroPath folder (symlinks resolved), never elsewhere.
"""

from __future__ import annotations

import inspect
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from macroserver.errors import MacroServerError

if TYPE_CHECKING:
    from macroserver.engine.core import MacroServerCore

MAX_CODE = 1024 * 1024


class MacroCodeError(MacroServerError):
    reason = "MacroCodeError"


TEMPLATE = '''"""Macros of {library}."""

from macroserver.macros import Macro


class {macro}(Macro):
    """{macro}: describe what it does."""

    def run(self) -> None:
        self.output("{macro} ran")
'''


def _library_file(core: "MacroServerCore", library: str) -> Path | None:
    for name in core.macros.names():
        cls = core.macros.get(name)
        if cls.library() == library and cls.source_file():
            return Path(cls.source_file())
    return None


def _macro_line(core: "MacroServerCore", library: str, macro: str) -> int:
    if macro not in core.macros or core.macros.get(macro).library() != library:
        return 1
    try:
        return inspect.getsourcelines(core.macros.get(macro))[1]
    except (OSError, TypeError):
        return 1


def get_code(core: "MacroServerCore", library: str, macro: str = "",
             template: str = TEMPLATE) -> tuple[str, str, int]:
    """(file, code, line of `macro`) of a library, or `template` (with `{library}` and
    `{macro}` filled in) for a new one."""
    path = _library_file(core, library)
    if path is not None:
        return str(path), path.read_text(encoding="utf-8"), _macro_line(core, library, macro)
    if not library.isidentifier():
        raise MacroCodeError(f"{library!r} is not a macro library name")
    if not core.macro_path:
        raise MacroCodeError(f"no macro library {library!r}, and no MacroPath folder to "
                             "create one in")
    code = template.format(library=library, macro=macro or "new_macro")
    line = next((n for n, text in enumerate(code.splitlines(), 1) if text.startswith("class ")),
                1)
    return str(core.macro_path[0] / f"{library}.py"), code, line


def _writable_target(core: "MacroServerCore", target: str) -> Path:
    if "/" not in target and "\\" not in target:
        known = _library_file(core, target)
        if known is None and not target.isidentifier():
            raise MacroCodeError(f"{target!r} is not a macro library name")
        path = known or (core.macro_path[0] / f"{target}.py" if core.macro_path else None)
        if path is None:
            raise MacroCodeError("no MacroPath folder to write macro code in")
    else:
        path = Path(target)
    folders = [folder.resolve() for folder in core.macro_path]
    resolved = path.resolve()
    if resolved.suffix != ".py" or resolved.parent not in folders:
        raise MacroCodeError(f"{target} is not a .py file directly inside a MacroPath folder "
                             f"({', '.join(map(str, core.macro_path)) or 'none set'}); "
                             "macro code is written only there")
    return resolved


def set_code(core: "MacroServerCore", target: str, code: str) -> Path:
    """Write a library inside MacroPath (atomically); returns its file."""
    if len(code) > MAX_CODE:
        raise MacroCodeError(f"macro code of {len(code)} characters refused (at most {MAX_CODE})")
    path = _writable_target(core, target)
    fd, tmp = tempfile.mkstemp(prefix=".macro-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            stream.write(code)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path
