"""Server configuration: elements, measurement groups, data roots and plug-in folders.

Read from a TOML file (see `examples/demo.toml`, which ships inside the package as the
configuration named "demo"). Element tables name a `type`: "sim" (the default) builds
simulated elements, "tango" builds Tango-backed ones (`elements/tango.py`).
"""

from __future__ import annotations

import grp
import math
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

from macroserver.datafiles import FilePolicy
from macroserver.elements.base import Channel, MeasurementGroup, Motor
from macroserver.elements.models import DEFAULT_MODEL, build_model
from macroserver.elements.pool import Pool
from macroserver.elements.sim import SimChannel, SimMotor
from macroserver.errors import ConfigError, MacroServerError
from macroserver.metadata.settings import MetadataSettings, settings_from_table
from macroserver.records import Role


@dataclass(frozen=True)
class ScanLimits:
    """What a scan is refused above, before anything moves (the `[scans]` table): more
    points than `max_points` (a typo such as 10^6 x 10^6 must not fill a disk), or files
    needing more than the free space less `space_margin` (a fraction of the estimate)."""

    max_points: int = 100_000_001  # one axis of 10^8 intervals, as the macros allow
    space_margin: float = 0.1


@dataclass
class ServerConfig:
    """Everything a macro server needs that is not in the environment."""

    pool: Pool
    data_roots: list[Path] = field(default_factory=list)
    macro_path: list[Path] = field(default_factory=list)
    recorder_path: list[Path] = field(default_factory=list)
    file_policy: FilePolicy = field(default_factory=FilePolicy)
    metadata: MetadataSettings = field(default_factory=MetadataSettings)
    scans: ScanLimits = field(default_factory=ScanLimits)
    source: str = "<memory>"


def demo_config_path() -> Path:
    """The demo configuration shipped inside the package."""
    return Path(str(resources.files("macroserver") / "data" / "demo.toml"))


def load_config(path: str | Path) -> ServerConfig:
    """Read and build a configuration; "demo" names the packaged demo configuration."""
    path = demo_config_path() if str(path) == "demo" else Path(path)
    try:
        with open(path, "rb") as stream:
            document = tomllib.load(stream)
    except OSError as exc:
        raise ConfigError(f"cannot read configuration {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"configuration {path} is not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"configuration {path} is not valid TOML: not UTF-8 text "
                          f"(byte {exc.start})") from None
    try:
        return build_config(document, source=str(path))
    except MacroServerError as exc:
        raise ConfigError(f"configuration {path}: {exc}") from None


def build_config(document: Mapping[str, Any], source: str = "<memory>") -> ServerConfig:
    """Build elements and settings from a parsed TOML document."""
    pool = Pool()
    for name, spec in _tables(document, "motors").items():
        pool.motors[name] = _build_motor(name, spec)
    for name, spec in _tables(document, "channels").items():
        pool.channels[name] = _build_channel(name, spec, pool)
    for name, spec in _tables(document, "measurement_groups").items():
        pool.measurement_groups[name] = _build_group(name, spec, pool)
    files = document.get("files", {})
    policy = FilePolicy(
        file_mode=_mode(files.get("file_mode", "0644"), "files.file_mode"),
        dir_mode=_mode(files.get("dir_mode", "0755"), "files.dir_mode"),
        group=_group(files.get("group")),
    )
    return ServerConfig(
        pool=pool,
        data_roots=_paths(document, "data_roots"),
        macro_path=_paths(document, "macro_path"),
        recorder_path=_paths(document, "recorder_path"),
        file_policy=policy,
        metadata=_metadata(document.get("metadata", {})),
        scans=_scan_limits(document.get("scans", {})),
        source=source,
    )


def _metadata(table: Any) -> MetadataSettings:
    try:
        return settings_from_table(table)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _scan_limits(table: Any) -> ScanLimits:
    if not isinstance(table, dict):
        raise ConfigError("[scans] must be a table (max_points, space_margin)")
    unknown = sorted(set(table) - {"max_points", "space_margin"})
    if unknown:
        raise ConfigError(f"[scans]: unknown key(s) {unknown} (max_points, space_margin)")
    default = ScanLimits()
    points = table.get("max_points", default.max_points)
    if not isinstance(points, int) or isinstance(points, bool) or points < 1:
        raise ConfigError(f"scans.max_points must be a whole number above 0, not {points!r}")
    margin = _number(table, "space_margin", "scans", default.space_margin)
    if not 0 <= margin <= 10:
        raise ConfigError(f"scans.space_margin must be a fraction from 0 to 10, not {margin}")
    return ScanLimits(points, margin)


def _tables(document: Mapping[str, Any], key: str) -> dict[str, dict[str, Any]]:
    tables = document.get(key, {})
    if not isinstance(tables, dict) or not all(isinstance(v, dict) for v in tables.values()):
        raise ConfigError(f"[{key}] must hold one table per element, e.g. [{key}.name]")
    return tables


def _paths(document: Mapping[str, Any], key: str) -> list[Path]:
    value = document.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{key} must be a list of folder names")
    return [Path(v).expanduser() for v in value]


def _group(value: Any) -> str | None:
    """files.group: the name of a group that exists (checked now, not at the first scan)."""
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ConfigError(f"files.group must be a group name, not {value!r}")
    try:
        grp.getgrnam(value)
    except KeyError:
        raise ConfigError(f"files.group: there is no group {value!r} on this host") from None
    return value


def _mode(value: Any, key: str) -> int:
    try:
        return int(str(value), 8)
    except ValueError:
        raise ConfigError(f"{key} must be an octal mode such as \"0640\", not {value!r}") from None


def _number(spec: Mapping[str, Any], key: str, where: str, default: float) -> float:
    value = spec.get(key, default)
    if not isinstance(value, (int, float)) or isinstance(value, bool) or math.isnan(value):
        raise ConfigError(f"{where}: {key} must be a number, not {value!r}")
    return float(value)


def _build_motor(name: str, spec: Mapping[str, Any]) -> Motor:
    kind = spec.get("type", "sim")
    if kind == "tango":
        return _tango_element("motor", name, spec)
    if kind != "sim":
        raise ConfigError(f"motors.{name}: unknown type {kind!r} (sim or tango)")
    where = f"motors.{name}"
    limits = spec.get("limits", [-math.inf, math.inf])
    if not (isinstance(limits, list) and len(limits) == 2):
        raise ConfigError(f"{where}: limits must be [low, high]")
    low = _number({"low": limits[0]}, "low", where, 0)
    high = _number({"high": limits[1]}, "high", where, 0)
    velocity = _number(spec, "velocity", where, 0.0)
    stall_at = spec.get("stall_at")
    try:
        return SimMotor(
            name,
            position=_number(spec, "position", where, 0.0),
            limits=(low, high),
            velocity=velocity if velocity > 0 else None,
            unit=str(spec.get("unit", "")),
            acceleration=_number(spec, "acceleration", where, 0.0),
            max_velocity=_number(spec, "max_velocity", where, math.inf),
            stall_at=None if stall_at is None else _number(spec, "stall_at", where, 0.0),
            settling_time=_number(spec, "settling_time", where, 0.0),
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _build_channel(name: str, spec: Mapping[str, Any], pool: Pool) -> Channel:
    try:
        kind = Role.of_channel(spec.get("kind", "counter"))
    except ValueError as exc:
        raise ConfigError(f"channels.{name}: {exc}") from None
    if kind is Role.FRAME:
        return _self_saving(name, spec)
    if spec.get("type", "sim") == "tango":
        return _tango_element("channel", name, spec)
    if spec.get("type", "sim") != "sim":
        raise ConfigError(f"channels.{name}: unknown type {spec.get('type')!r} (sim or tango)")
    shape = tuple(spec.get("shape", ()))
    if len(shape) != kind.ndim or not all(isinstance(n, int) and n > 0 for n in shape):
        raise ConfigError(f"channels.{name}: a {kind.channel_kind} needs a shape of {kind.ndim} "
                          "positive sizes")
    motor_name = spec.get("motor")
    motor = pool.motor(motor_name) if motor_name else None
    try:
        live, windows = build_model(spec.get("model", DEFAULT_MODEL[kind]), spec, motor, shape)
    except ValueError as exc:
        raise ConfigError(f"channels.{name}: {exc}") from None
    readout_rate = _number(spec, "readout_rate", f"channels.{name}", math.inf)
    if readout_rate <= 0:
        raise ConfigError(f"channels.{name}: readout_rate must be above 0 values/s")
    return SimChannel(name, kind, live, shape=shape, unit=str(spec.get("unit", "")),
                      label=spec.get("label"), windows=windows, readout_rate=readout_rate)


def _self_saving(name: str, spec: Mapping[str, Any]) -> Channel:
    """A detector saving its own frames: simulated here, or a Lima-like Tango device
    (imported only then, so `macroserver run` needs no Tango)."""
    kind = spec.get("type", "sim")
    if kind not in ("sim", "tango"):
        raise ConfigError(f"channels.{name}: unknown type {kind!r} (sim or tango)")
    try:
        if kind == "tango":
            from macroserver.elements.lima import build_lima_channel

            return build_lima_channel(name, spec)
        from macroserver.elements.selfsaving import build_sim_self_saving

        return build_sim_self_saving(name, spec)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _build_group(name: str, spec: Mapping[str, Any], pool: Pool) -> MeasurementGroup:
    names = spec.get("channels", [])
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise ConfigError(f"measurement_groups.{name}: channels must list channel names")
    timer = spec.get("timer", names[0])
    try:
        return MeasurementGroup(name, [pool.channel(n) for n in names], timer)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _tango_element(kind: str, name: str, spec: Mapping[str, Any]) -> Any:
    from macroserver.elements.tango import build_tango_element
    from macroserver.elements.triggergate import build_gated_channel

    try:
        if kind == "channel" and "trigger" in spec:
            return build_gated_channel(name, dict(spec))
        return build_tango_element(kind, name, dict(spec))
    except (KeyError, ValueError, TypeError) as exc:
        # the builders name the table themselves (`channels.c: unknown keys ...`): say it
        # once, not "channel c: channels.c: ..."
        text, where = str(exc), f"{kind}s.{name}"
        raise ConfigError(text if text.startswith((where, f"{kind} {name}:"))
                          else f"{where}: {text}") from None
