"""`macroserver register`: write our servers into the Tango database TANGO_HOST names.

The description is dsconfig JSON: the packaged template (tango_db/macroserver.json) by
default, or a facility's own file with its own device names and properties. On top of
it, `--instance` renames the MacroServer instance (as `macroserver up` does),
`--property KEY=VALUE` sets MacroServer device properties and `--doors N` sets the
number of doors. dsconfig's diff-and-apply does the writing, so registering again with
the same arguments changes nothing, and a dry run lists exactly what would change.
"""

from __future__ import annotations

import copy
import json
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from macroserver.errors import MacroServerError
from macroserver.wire import error_text

SERVER = "MacroServer"


class RegisterError(MacroServerError):
    """The description, the arguments or the database do not allow registering."""

    reason = "RegisterError"


@dataclass
class Registration:
    """What `register` found to change (and wrote, unless it was a dry run)."""

    tango_host: str
    description: dict[str, Any]
    changes: list[str] = field(default_factory=list)
    written: bool = False


def packaged_description() -> dict[str, Any]:
    text = resources.files("macroserver").joinpath("data", "tango_db.json").read_text()
    return json.loads(text)


def load_description(path: str | Path | None) -> dict[str, Any]:
    """The dsconfig JSON at `path`, or the packaged template when `path` is None."""
    if path is None:
        return packaged_description()
    try:
        description = json.loads(Path(path).read_text())
    except OSError as exc:
        raise RegisterError(f"cannot read {path}: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise RegisterError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(description, dict) or not isinstance(description.get("servers"), dict):
        raise RegisterError(f"{path} is not a dsconfig description (no \"servers\" object)")
    return description


def parse_properties(items: Iterable[str]) -> dict[str, list[str]]:
    """`KEY=VALUE` strings to dsconfig properties; a repeated KEY gives several values."""
    properties: dict[str, list[str]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise RegisterError(f"--property wants KEY=VALUE, not {item!r}")
        properties.setdefault(key, []).append(value)
    return properties


def customise(
    description: Mapping[str, Any],
    instance: str | None = None,
    properties: Mapping[str, list[str]] | None = None,
    doors: int | None = None,
) -> dict[str, Any]:
    """A copy of `description` with the MacroServer instance renamed, properties set and
    the doors counted as asked. Other servers in the description are left as they are."""
    result: dict[str, Any] = copy.deepcopy(dict(description))
    if instance is None and not properties and doors is None:
        return result
    instances = result.get("servers", {}).get(SERVER)
    if not isinstance(instances, dict) or len(instances) != 1:
        found = sorted(instances) if isinstance(instances, dict) else []
        raise RegisterError(
            f"--instance/--property/--doors need exactly one {SERVER} instance in the "
            f"description; it has {len(found)}{': ' + ', '.join(found) if found else ''}")
    (old_instance, classes), = instances.items()
    macro_servers = classes.get("MacroServer", {})
    if len(macro_servers) != 1:
        raise RegisterError(f"{SERVER}/{old_instance} must have exactly one device of class "
                            f"MacroServer, not {len(macro_servers)}")
    new_instance = instance or old_instance
    if not new_instance or "/" in new_instance:
        raise RegisterError(f"not a server instance name: {new_instance!r}")

    def rename(device: str) -> str:
        return device.replace(f"/{old_instance}/", f"/{new_instance}/")

    renamed: dict[str, dict[str, Any]] = {}
    for cls, devices in classes.items():
        renamed[cls] = {rename(device): body for device, body in devices.items()}
    (ms_name, ms_body), = renamed["MacroServer"].items()
    ms_properties = ms_body.setdefault("properties", {})
    if ms_properties.get("MetadataManager"):  # the instance's own manager, renamed with it
        ms_properties["MetadataManager"] = [rename(d) for d in ms_properties["MetadataManager"]]
    ms_properties.update(properties or {})
    old_ms = next(iter(macro_servers))
    door_bodies = renamed.setdefault("Door", {})
    for body in door_bodies.values():
        props = body.setdefault("properties", {})
        if [v.lower() for v in props.get("MacroServerName", [old_ms])] == [old_ms.lower()]:
            props["MacroServerName"] = [ms_name]
    if doors is not None:
        if doors < 1:
            raise RegisterError(f"--doors must be at least 1, not {doors}")
        template: dict[str, Any] = copy.deepcopy(next(iter(door_bodies.values()), {}))
        template.setdefault("properties", {})["MacroServerName"] = [ms_name]
        existing = list(door_bodies.items())
        wanted: dict[str, Any] = dict(existing[:doors])
        number = 1
        while len(wanted) < doors:
            name = f"door/{new_instance}/{number}"
            if name.lower() not in {n.lower() for n in wanted}:
                wanted[name] = copy.deepcopy(template)
            number += 1
        renamed["Door"] = wanted
    if not renamed["Door"]:
        del renamed["Door"]
    result["servers"][SERVER] = {new_instance: renamed}
    return result


def configured_tango_host() -> tuple[str, str]:
    """TANGO_HOST where Tango clients (PyTango too) find it, and where it came from: the
    environment, else `~/.tangorc`, else `/etc/tangorc` (TANGO_RC_FILE names another file);
    ("", "") when none sets it."""
    value = os.environ.get("TANGO_HOST", "").strip()
    if value:
        return value, "the environment"
    for path in (Path.home() / ".tangorc", Path(os.environ.get("TANGO_RC_FILE") or "/etc/tangorc")):
        try:
            lines = path.read_text(errors="replace").splitlines()
        except OSError:
            continue
        for line in lines:
            key, equals, value = line.partition("=")
            if equals and key.strip() == "TANGO_HOST" and value.strip():
                return value.strip(), str(path)
    return "", ""


def resolve_tango_host(tango_host: str | None = None) -> str:
    """`tango_host`, or the configured TANGO_HOST, once a database answers there;
    RegisterError if not."""
    from macroserver.tango.database import database_answers

    host, source = (tango_host, "") if tango_host else configured_tango_host()
    if not host:
        raise RegisterError(
            "TANGO_HOST is not set (not in the environment, ~/.tangorc or /etc/tangorc): "
            "point it at the Tango database to register in, e.g. "
            "export TANGO_HOST=tangodb.example.org:10000 (or run `macroserver up`, which "
            "starts an embedded database)")
    try:
        answers = database_answers(host, timeout=3.0)
    except ValueError as exc:
        raise RegisterError(str(exc)) from None
    if not answers:
        origin = f" (from {source})" if source and source != "the environment" else ""
        raise RegisterError(f"no Tango database answers at TANGO_HOST={host}{origin}; "
                            "is it running?")
    return host


def register(
    description: Mapping[str, Any],
    tango_host: str | None = None,
    dry_run: bool = False,
) -> Registration:
    """Write `description` into the database (TANGO_HOST's unless `tango_host` is given).

    Returns the changes, one readable line each (empty when the database already holds
    the description). With `dry_run`, nothing is written.
    """
    from dsconfig.dump import get_db_data
    from dsconfig.json2tango import apply_config, prepare_config
    from dsconfig.output import get_changes

    from macroserver.tango.database import connect_database

    host = resolve_tango_host(tango_host)
    db = connect_database(host)
    try:
        config = prepare_config(copy.deepcopy(dict(description)))
        original = get_db_data(db, dservers=True, class_properties=True)
        _, _, calls, *_ = apply_config(config, db, write=not dry_run, original=original)
    except RuntimeError as exc:
        raise RegisterError(f"not a dsconfig description (servers/devices/classes): {exc}"
                            ) from None
    except Exception as exc:  # DevFailed from the database, with its own reason
        raise RegisterError(f"the Tango database at {host} refused the changes: "
                            f"{error_text(exc)}") from None
    lines = format_changes(get_changes(original, calls)) if calls else []
    return Registration(host, dict(description), lines, written=bool(calls) and not dry_run)


def format_changes(changes: Mapping[str, Any]) -> list[str]:
    """dsconfig's change summary as plain lines: device, class, server, then properties."""
    lines: list[str] = []
    for device, change in sorted(changes.get("devices", {}).items()):
        kind = change.get("change_type", "update")
        where = ""
        if "server" in change:
            where = f" ({change.get('device_class', '?')} in {change['server']})"
        if kind == "move":
            where += f", was in {change.get('old_server')}"
        lines.append(f"{kind} device {device}{where}")
        properties = change.get("properties", {})
        for name, prop in sorted(properties.items()):
            if not isinstance(prop, Mapping) or "change_type" not in prop:
                if kind == "delete":
                    lines.append(f"    - {name} = {_show(prop)}")
                continue
            if prop["change_type"] == "add":
                lines.append(f"    + {name} = {_show(prop['value'])}")
            elif prop["change_type"] == "delete":
                lines.append(f"    - {name} (was {_show(prop['old_value'])})")
            else:
                lines.append(f"    ~ {name} = {_show(prop['value'])} "
                             f"(was {_show(prop['old_value'])})")
        for attr, props in sorted(change.get("attribute_properties", {}).items()):
            for name, prop in sorted(props.items()):
                lines.append(f"    ~ {attr}->{name}: {prop.get('change_type')} "
                             f"{_show(prop.get('value', prop.get('old_value')))}")
        if "alias" in change:
            lines.append(f"    ~ alias = {change['alias'].get('value')}")
    for cls, change in sorted(changes.get("classes", {}).items()):
        for name, prop in sorted(change.get("properties", {}).items()):
            lines.append(f"class {cls}: {prop.get('change_type')} property {name} = "
                         f"{_show(prop.get('value', prop.get('old_value')))}")
    return lines


def _show(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return value[0] if len(value) == 1 else json.dumps(list(value))
    return json.dumps(value)


def command(args: Any, print_line: Callable[[str], None] = print) -> int:
    """The `macroserver register` command (args from its subparser): 0, or errors raise."""
    description = customise(load_description(args.file), args.instance,
                            parse_properties(args.property), args.doors)
    dry_run = args.dry_run
    result = register(description, dry_run=dry_run)
    servers = ", ".join(f"{server}/{inst}" for server, insts in
                        description.get("servers", {}).items() for inst in insts)
    for line in result.changes:
        print_line(line)
    if not result.changes:
        print_line(f"{servers}: the database at {result.tango_host} already holds this "
                   "description; nothing to change")
    elif dry_run:
        print_line(f"dry run: {len(result.changes)} line(s) above would change "
                   f"{servers} in {result.tango_host}; nothing was written")
    else:
        print_line(f"registered {servers} in {result.tango_host}")
    return 0
