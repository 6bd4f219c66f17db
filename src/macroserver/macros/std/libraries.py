"""Loading macro files again from the shell: relmac, relmaclib, addmaclib (Sardana's)."""

from __future__ import annotations

from macroserver.macros import MACRO_NAME, STRING, Macro, MacroServerError, Param, Repeat


def reload_and_report(macro: Macro, what: str) -> None:
    """Load every macro file again (new and changed ones too); say what did not load."""
    problems = macro.server.reload_macros()
    for problem in problems:
        macro.warning(problem)
    macro.output(f"{what} reloaded" + (f" ({len(problems)} file(s) did not load)"
                                       if problems else ""))


def _library_known(macro: Macro, library: str) -> bool:
    names = macro.server.macros
    return any(names.get(n).library() == library for n in names.names())


class relmac(Macro):
    """Reload macros from their files (a changed file takes effect): relmac ascan."""

    params = [Repeat("macro_names", [Param("macro_name", MACRO_NAME, description="macro")],
                     min=1, description="macros to reload")]

    def run(self, names: list[str]) -> None:
        unknown = [n for n in names if n not in self.server.macros]
        if unknown:
            raise MacroServerError(f"no macro named {', '.join(unknown)}")
        reload_and_report(self, ", ".join(names))


class relmaclib(Macro):
    """Reload a macro library (a file in MacroPath, named without .py): relmaclib mylib."""

    params = [Param("library", STRING, description="macro library (file name without .py)")]

    def run(self, library: str) -> None:
        if not _library_known(self, library) and not self._in_macro_path(library):
            raise MacroServerError(f"no macro library named {library!r}")
        reload_and_report(self, library)

    def _in_macro_path(self, library: str) -> bool:
        return library.isidentifier() and any(
            (folder / f"{library}.py").is_file() for folder in self.server.macro_path)


class addmaclib(relmaclib):
    """Load a new macro library put in a MacroPath folder: addmaclib mylib."""

    def run(self, library: str) -> None:
        if not self._in_macro_path(library):
            folders = ", ".join(map(str, self.server.macro_path)) or "none set"
            raise MacroServerError(f"no file {library}.py in a MacroPath folder ({folders})")
        reload_and_report(self, library)
        if not _library_known(self, library):
            raise MacroServerError(f"{library}.py was loaded but gives no macro (see above)")
