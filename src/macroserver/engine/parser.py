"""Command lines to typed parameter values.

`ascan theta 0 0.5 5 1`, quoted strings (`senv ScanFile "a b.h5"`), `{ }` dictionaries
as one word (`senv ScanMetadata {'sample/name': 'Si111'}`) and `[ ]` groups for
repeated parameters (`mv [theta 1] [chi 2]`, or flat: `mv theta 1 chi 2`). Every error
names the parameter and the offending text.
"""

from __future__ import annotations

from typing import Any, Sequence, Union

from macroserver.elements.pool import Pool
from macroserver.engine.params import Param, ParamDef, Repeat
from macroserver.errors import MissingParam, ParamError
from macroserver.metadata.text import control_character

Token = Union[str, list["Token"]]


class _UseDefault(str):
    """The token of a parameter given without a value (an empty optional XML param)."""


USE_DEFAULT = _UseDefault("")

MAX_LINE = 65536
MAX_DEPTH = 32


def _closing_brace(line: str, start: int) -> int:
    """Index of the `}` closing the `{` at `start` (quotes and nested braces skipped)."""
    depth, i, n = 0, start, len(line)
    while i < n:
        char = line[i]
        if char in "\"'":
            end = line.find(char, i + 1)
            if end < 0:
                raise ParamError(f"unterminated {char} quote starting at column {i + 1}")
            i = end
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise ParamError(f"unbalanced '{{' at column {start + 1}: a dictionary is not closed "
                     "with '}'")


def tokenize(line: str) -> list[Token]:
    """Split a command line into words and nested `[ ]` groups."""
    if len(line) > MAX_LINE:
        raise ParamError(f"command line is {len(line)} characters long (at most {MAX_LINE})")
    problem = control_character(line)
    if problem:
        raise ParamError(f"command line contains {problem}")
    stack: list[list[Token]] = [[]]
    i, n = 0, len(line)
    while i < n:
        char = line[i]
        if char.isspace():
            i += 1
        elif char == "[":
            if len(stack) > MAX_DEPTH:
                raise ParamError(f"[ ] groups nested more than {MAX_DEPTH} deep at column {i + 1}")
            stack.append([])
            i += 1
        elif char == "]":
            if len(stack) == 1:
                raise ParamError(f"unbalanced ']' at column {i + 1}")
            group = stack.pop()
            stack[-1].append(group)
            i += 1
        elif char == "{":
            end = _closing_brace(line, i)
            stack[-1].append(line[i : end + 1])  # a dict literal stays one word
            i = end + 1
        elif char in "\"'":
            end = line.find(char, i + 1)
            if end < 0:
                raise ParamError(f"unterminated {char} quote starting at column {i + 1}")
            stack[-1].append(line[i + 1 : end])
            i = end + 1
        else:
            start = i
            while i < n and not line[i].isspace() and line[i] not in "[]\"'":
                i += 1
            stack[-1].append(line[start:i])
    if len(stack) != 1:
        raise ParamError("unbalanced '[': a group is not closed with ']'")
    return stack[0]


def tokens_from_args(args: Sequence[str]) -> list[Token]:
    """Tokens from an argument list (RunMacro's form): items are words, `[`/`]` group them."""
    stack: list[list[Token]] = [[]]
    for arg in args:
        if arg == "[":
            if len(stack) > MAX_DEPTH:
                raise ParamError(f"[ ] groups nested more than {MAX_DEPTH} deep")
            stack.append([])
        elif arg == "]":
            if len(stack) == 1:
                raise ParamError("unbalanced ']' in the argument list")
            group = stack.pop()
            stack[-1].append(group)
        else:
            stack[-1].append(arg)
    if len(stack) != 1:
        raise ParamError("unbalanced '[' in the argument list")
    return stack[0]


def _single(param: Param, token: Token, pool: Pool) -> Any:
    if token is USE_DEFAULT:
        if param.required:
            raise MissingParam(f"parameter {param.name} ({param.type.name}) has no value")
        return param.default
    if isinstance(token, list) and not param.type.accepts_group:
        raise ParamError(f"parameter {param.name} expects one value, not a [ ] group")
    return param.convert(token, pool)


def bind(params: Sequence[ParamDef], tokens: list[Token], pool: Pool) -> list[Any]:
    """Typed values for `params` from `tokens`, or a ParamError naming what is wrong."""
    values: list[Any] = []
    position = 0
    for index, param in enumerate(params):
        if isinstance(param, Repeat):
            after = params[index + 1 :]
            trailing = sum(1 for p in after if p.required)
            one = any(not p.required for p in after)
            taken, value = _bind_repeat(param, tokens[position:], trailing, pool, one)
            values.append(value)
            position += taken
        elif position < len(tokens):
            values.append(_single(param, tokens[position], pool))
            position += 1
        elif param.required:
            raise MissingParam(f"parameter {param.name} ({param.type.name}) is missing")
        else:
            values.append(param.default)
    if position < len(tokens):
        extra = " ".join(_show(t) for t in tokens[position:])
        raise ParamError(f"unexpected extra parameter(s): {extra}")
    return values


def _bind_repeat(
    repeat: Repeat, tokens: list[Token], trailing: int, pool: Pool, one: bool = False
) -> tuple[int, list[Any]]:
    """Bind one repeat group; returns (tokens consumed, list of repetitions).

    Written out without `[ ]`, a repeat takes the words up to those the required
    parameters after it need; with an optional parameter after it, one repetition only
    (`one`, Sardana's rule: `newfile scans.h5 7` is the file and ScanID 7)."""
    width = len(repeat.params)
    groups: list[list[Token]] = []
    taken = 0
    single = repeat.params[0] if width == 1 else None
    if isinstance(single, Param) and single.type.accepts_group:
        taken = max(0, len(tokens) - trailing)  # every word or group is one value
        groups = [[token] for token in tokens[:taken]]
        first = tokens[0] if taken == 1 else None
        if isinstance(first, list) and _is_repetitions(first):  # [[v1] [v2]], as from XML
            groups = [group for group in first if isinstance(group, list)]
    elif tokens and isinstance(tokens[0], list):
        first = tokens[0]
        if not first:  # [ ]: no repetition (an empty XML paramrepeat)
            taken = 1
        elif all(isinstance(t, list) for t in first):
            groups = [t for t in first if isinstance(t, list)]  # [[m1 p1] [m2 p2]]
            taken = 1
        elif width == 1 and all(isinstance(t, str) for t in first):
            groups = [[t] for t in first]  # [ct1 ct2]: the repeat's values (Sardana's form)
            taken = 1
        else:
            while taken < len(tokens) and isinstance(group := tokens[taken], list):
                groups.append(group)  # [m1 p1] [m2 p2]
                taken += 1
    else:
        usable = max(0, len(tokens) - trailing)
        if one:
            usable = min(usable, width)
        while taken + width <= usable and not any(
            isinstance(t, list) for t in tokens[taken : taken + width]
        ):
            groups.append(tokens[taken : taken + width])
            taken += width
    if len(groups) < repeat.min:
        raise MissingParam(
            f"parameter {repeat.name} needs at least {repeat.min} repetition(s) of "
            f"({' '.join(p.name for p in repeat.params)}), got {len(groups)}"
        )
    if repeat.max is not None and len(groups) > repeat.max:
        raise ParamError(
            f"parameter {repeat.name} allows at most {repeat.max} repetition(s), got {len(groups)}"
        )
    values = []
    for group in groups:
        if width == 1 and isinstance(repeat.params[0], Repeat):
            group = [group]  # [[m1 m2] [m3]]: each group is one inner repeat's words
        missing = repeat.params[len(group):]
        if len(group) > width or any(p.required for p in missing):
            raise ParamError(
                f"parameter {repeat.name}: each repetition needs {width} value(s) "
                f"({' '.join(p.name for p in repeat.params)}), got [{_show(group)[1:-1]}]"
            )
        converted = [_member(p, t, pool) for p, t in zip(repeat.params, group)]
        converted += [p.default for p in missing]  # trailing values left to their default
        values.append(converted[0] if width == 1 else tuple(converted))
    return taken, values


def _member(param: ParamDef, token: Token, pool: Pool) -> Any:
    """One value of a repetition: a parameter, `[]` for its default, or a nested repeat."""
    if isinstance(param, Repeat):
        return _bind_repeat(param, token if isinstance(token, list) else [token], 0, pool)[1]
    if token == [] and not param.required:
        return param.default
    return _single(param, token, pool)


def _is_repetitions(token: list[Token]) -> bool:
    """`[[a] [b]]`: a group of one-value groups (a repeat written out, as XML gives it)."""
    return bool(token) and all(
        isinstance(t, list) and len(t) == 1 and isinstance(t[0], str) for t in token)


def command_line(tokens: list[Token]) -> str:
    """The normalised command line of `tokens` (the scan title, `macro_line`)."""
    return " ".join(_show(token) for token in tokens if token is not USE_DEFAULT)


def _show(token: Token) -> str:
    if isinstance(token, list):
        return "[" + " ".join(_show(t) for t in token) + "]"
    return token if token and not any(c.isspace() for c in token) else repr(token)
