"""Sardana's XML form of a macro call, as Taurus and spock clients send it to RunMacro.

    <macro name="ascan"><param name="motor" value="theta"/>...</macro>
    <macro name="mv"><paramrepeat name="motor_pos_list"><repeat nr="1">
        <param name="motor" value="theta"/><param name="pos" value="1"/></repeat>
    </paramrepeat></macro>

optionally inside `<sequence>`. It becomes the same tokens as a typed command line (a
`paramrepeat` becomes `[ ]` groups), so it is checked by the same parser. Only the
values are read; nothing in the document is evaluated, and documents with a DOCTYPE
(entity definitions: expansion bombs, external entities) are refused: Sardana's calls
never have one.
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree

from macroserver.engine.parser import MAX_DEPTH, USE_DEFAULT, Token
from macroserver.errors import ParamError


def is_xml(text: str) -> bool:
    return text.lstrip().startswith("<")


def _values(element: ElementTree.Element, depth: int = 0) -> list[Token]:
    if depth > MAX_DEPTH:  # the same limit as [ ] groups on a command line
        raise ParamError(f"RunMacro XML: <paramrepeat> nested more than {MAX_DEPTH} deep")
    tokens: list[Token] = []
    for child in element:
        if child.tag == "param":
            value = child.get("value")
            tokens.append(USE_DEFAULT if value is None else value)  # no value: the default
        elif child.tag == "paramrepeat":
            tokens.append([_values(repeat, depth + 1)
                           for repeat in child if repeat.tag == "repeat"])
        else:
            raise ParamError(f"unexpected XML element <{child.tag}> in a macro call")
    return tokens


def macro_element(text: str) -> ElementTree.Element:
    """The one `<macro>` element of `text` (a bare macro or a sequence of one)."""
    if "<!" in text:
        raise ParamError("RunMacro XML may not hold a DOCTYPE, entity or CDATA declaration")
    try:
        root = ElementTree.fromstring(text)
    except (ElementTree.ParseError, ValueError) as exc:
        raise ParamError(f"RunMacro XML is not well-formed: {exc}") from None
    macros = [root] if root.tag == "macro" else list(root.iter("macro"))
    if root.tag not in ("macro", "sequence") or len(macros) != 1:
        raise ParamError("RunMacro XML must hold exactly one <macro> (sequences of several "
                         "macros are not supported)")
    return macros[0]


def tokens_from_xml(text: str) -> list[Token]:
    """Macro name and parameter tokens from a Sardana XML macro call."""
    macro = macro_element(text)
    name = macro.get("name")
    if not name:
        raise ParamError("RunMacro XML: <macro> has no name attribute")
    return [name, *_values(macro)]


def xml_macro_id(text: str) -> str | None:
    """The `id` the client gave its `<macro>` (Sardana's clients always give one)."""
    return macro_element(text).get("id")


def with_id(text: str, macro_id: str) -> str:
    """The XML sent back by RunMacro: the call with its `id`, as Sardana clients expect."""
    root = ElementTree.fromstring(text)
    macro = root if root.tag == "macro" else next(root.iter("macro"))
    macro.set("id", macro_id)  # the client's own id, or the one made for it
    return ElementTree.tostring(root, encoding="unicode")
