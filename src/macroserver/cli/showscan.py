"""`showscan` for mspock: plot a scan's counters against its reference motor.

Offline (`showscan` / `showscan <ScanID>`): the scan is found through the `ScanHistory`
environment variable (its ScanDir and ScanFile), then read from its NeXus file
(`/entry<ScanID>/measurement/<column>`, x axis from the default NXdata plot) or, when
there is none, from its SPEC file (`#S <ScanID>`, silx). The plot is written as a PNG
(matplotlib's Agg backend, no display needed) and drawn as a text plot for the terminal.
The PNG carries the plotted arrays (read back from the figure's lines) as JSON in its
`mspock-data` text chunk, so what was drawn can be checked against the data file.
Both mark the first counter's peak (`maxpos`) and FWHM centre (`cen`), computed as
Sardana's `scanstats` does (online: the statistics of the `record_end` packet).

Online (`showscan online`): `OnlineScan` collects the JSON recorder's packets
(`data_desc`, `record_data`, `record_end`) and renders the same text plot as points come.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from macroserver.datafiles import HDF5_SUFFIXES
from macroserver.records import Role, Written
from macroserver.scanstats import channel_stats

SPEC_SUFFIXES = (".dat", ".spec")
NOT_COUNTERS = {"point_nb", "pt_no", "#pt no", "dt", "timestamp", "edf_nb"}
MARKERS = "*+ox#@%&"
PNG_DATA_KEY = "mspock-data"


class ShowScanError(Exception):
    """Why a scan cannot be shown (no history, no file, no such scan...)."""


@dataclass
class ScanPlotData:
    """What a plot shows: one x axis, one or more named y series of the same length."""

    scan_id: int | None
    title: str
    x_name: str
    x: list[float]
    series: dict[str, list[float]] = field(default_factory=dict)
    source: str = ""
    nexus_entry: str = ""  # the entry read, when the source is a NeXus file
    #: the statistics of the first series (`channel_stats`), for the peak and centre marks
    stats: dict[str, Any] = field(default_factory=dict)

    def marks(self) -> dict[str, float]:
        """Where the peak and the centre are marked (those known)."""
        return {label: float(self.stats[key]) for label, key in (("peak", "maxpos"),
                                                                  ("cen", "cen"))
                if self.stats.get(key) is not None}


def with_stats(data: ScanPlotData) -> ScanPlotData:
    """`data` with the statistics of its first series against its x axis."""
    if data.series and data.x:
        name, values = next(iter(data.series.items()))
        y = np.array([math.nan if v is None else v for v in values], dtype=float)
        data.stats = channel_stats(np.asarray(data.x, dtype=float), y) or {}
    return data


# -- finding and reading a scan -------------------------------------------------------

def history_entry(env: dict[str, Any], scan_id: int | None) -> dict[str, Any]:
    """The `ScanHistory` entry of `scan_id` (the last scan when None)."""
    history = env.get("ScanHistory") or []
    if not isinstance(history, list) or not history:
        raise ShowScanError("no scan in ScanHistory yet: run a scan first")
    if scan_id is None:
        return history[-1]
    for entry in reversed(history):
        if isinstance(entry, dict) and int(entry.get("serialno", -1)) == scan_id:
            return entry
    known = ", ".join(str(e.get("serialno")) for e in history[-10:] if isinstance(e, dict))
    raise ShowScanError(f"scan {scan_id} is not in ScanHistory (recent scans: {known})")


def scan_files(entry: dict[str, Any]) -> list[Written]:
    """Where the scan of a history entry is, NeXus entries first, then SPEC scans: as
    its recorders reported it (`written`), or, for an entry of a version before they
    did, from ScanDir and ScanFile by their suffixes."""
    number = int(entry.get("serialno", 0))
    if isinstance(entry.get("written"), list):
        found = [Written(Path(w["path"]), str(w.get("format", "")), w.get("entry") or "",
                         w.get("scan_number"))
                 for w in entry["written"] if isinstance(w, dict) and w.get("path")]
    else:
        names = entry.get("ScanFile") or []
        paths = [Path(entry.get("ScanDir") or "", name)
                 for name in ([names] if isinstance(names, str) else names)]
        found = [Written(p, "NeXus", entry=f"entry{number}") for p in paths
                 if p.suffix.lower() in HDF5_SUFFIXES]
        found += [Written(p, "SPEC", scan_number=number) for p in paths
                  if p.suffix.lower() in SPEC_SUFFIXES]
    return ([w for w in found if w.entry]
            + [w for w in found if not w.entry and w.scan_number is not None])


def load_scan(env: dict[str, Any], scan_id: int | None = None) -> ScanPlotData:
    """Read a scan (the last one by default) from its NeXus or SPEC file."""
    entry = history_entry(env, scan_id)
    number = int(entry.get("serialno", scan_id or 0))
    files = scan_files(entry)
    if not files:
        raise ShowScanError(
            f"scan {number} was not saved to a NeXus or SPEC file "
            f"(ScanFile was {entry.get('ScanFile')!r}); set ScanDir and ScanFile to save scans")
    problems = []
    for written in files:
        path = written.path
        if not path.exists():
            problems.append(f"{path}: not found")
            continue
        try:
            if written.entry:
                data = read_nexus(path, number, entry, written.entry)
            else:
                data = read_spec(path, written.scan_number or number, entry)
        except ShowScanError as exc:
            problems.append(str(exc))
            continue
        return with_stats(data)
    raise ShowScanError(f"cannot read scan {number}: " + "; ".join(problems))


def _counters(candidates: Sequence[str], entry: dict[str, Any], x_name: str,
              motors: Sequence[str] = ()) -> list[str]:
    channels = entry.get("channels") or []
    chosen = [c for c in channels if c in candidates]
    if chosen:
        return chosen
    skip = NOT_COUNTERS | {x_name.lower()} | {m.lower() for m in motors}
    return [c for c in candidates if c.lower() not in skip]


def read_nexus(path: Path, scan_id: int, entry: dict[str, Any] | None = None,
               group_name: str = "") -> ScanPlotData:
    """Scan `scan_id` from its NeXus entry `group_name` (by default `entry<scan_id>`)."""
    import h5py

    entry = entry or {}
    with h5py.File(path, "r", locking=False) as handle:
        name = group_name or f"entry{scan_id}"
        if name not in handle:
            raise ShowScanError(f"{path}: no {name}")
        group = handle[name]
        if "measurement" not in group:
            raise ShowScanError(f"{path}: no {name}/measurement")
        measurement = group["measurement"]
        frames = linked_detectors(group)
        scalars = [k for k, v in measurement.items()
                   if isinstance(v, h5py.Dataset) and v.ndim == 1 and k not in frames]
        x_name = ""
        plot_name = group.attrs.get("default")
        if isinstance(plot_name, bytes):
            plot_name = plot_name.decode()
        if plot_name and plot_name in group:
            axes = group[plot_name].attrs.get("axes")
            if axes is not None:
                axes = [a.decode() if isinstance(a, bytes) else str(a)
                        for a in np.atleast_1d(axes)]
                x_name = next((a for a in axes if a in scalars), "")
        motors = [k for k in group.get("instrument", {}) if k in scalars]
        if not x_name:
            title_words = str(entry.get("title", "")).split()
            x_name = next((w for w in title_words[1:] if w in scalars), "")
        if not x_name:
            x_name = "point_nb" if "point_nb" in scalars else scalars[0]
        x = measurement[x_name][()]
        counters = _counters(scalars, entry, x_name, motors)
        series = {c: np.asarray(measurement[c][()], dtype=float).tolist() for c in counters}
        title = group["title"][()] if "title" in group else entry.get("title", "")
        if isinstance(title, bytes):
            title = title.decode()
    return ScanPlotData(scan_id, str(title), x_name, np.asarray(x, dtype=float).tolist(),
                        series, str(path), name)


def linked_detectors(entry: Any) -> list[str]:
    """Self-saving detectors of a NeXus entry (their frames are linked, not copied)."""
    instrument = entry.get("instrument", {})
    return [name for name in instrument if "frame_numbers" in instrument[name]]


def save_frame_pngs(path: Path, group_name: str, png: Path) -> list[tuple[str, Path]]:
    """The last frame of each linked detector of the scan in NeXus entry `group_name`,
    read through the NeXus link, written as `<png stem>_<detector>.png` beside the plot."""
    import h5py

    from macroserver.web.images import FrameRequest, png_image, read_frame

    with h5py.File(path, "r", locking=False) as handle:
        entry = handle.get(group_name)
        names = linked_detectors(entry) if entry is not None else []
        del entry  # it would keep the scan's own file (an external link) open, not SWMR
    written = []
    for name in names:
        frame, _ = read_frame(FrameRequest(str(path), group_name, name, 1 << 62))
        target = png.with_name(f"{png.stem}_{name}.png")
        target.write_bytes(png_image(frame)[0])
        written.append((name, target))
    return written


def read_spec(path: Path, scan_id: int, entry: dict[str, Any] | None = None) -> ScanPlotData:
    from silx.io.specfile import SpecFile

    entry = entry or {}
    spec = SpecFile(str(path))
    try:
        keys = [k for k in spec.keys() if k.split(".")[0] == str(scan_id)]
        if not keys:
            raise ShowScanError(f"{path}: no #S {scan_id}")
        scan = spec[keys[-1]]  # the last scan with that number
        labels = list(scan.labels)
        data = np.atleast_2d(scan.data)
        if data.size == 0 or not labels:
            raise ShowScanError(f"{path}: scan {scan_id} has no data")
        title_words = str(scan.scan_header_dict.get("S", "")).split()
        x_name = next((w for w in title_words[2:] if w in labels), "")
        if not x_name:
            x_name = labels[1] if len(labels) > 1 else labels[0]
        motors = [w for w in title_words[2:] if w in labels]
        counters = _counters(labels, entry, x_name, motors)
        column = {label: data[i] for i, label in enumerate(labels)}
        series = {c: np.asarray(column[c], dtype=float).tolist() for c in counters}
        title = " ".join(title_words[1:])
        return ScanPlotData(scan_id, title, x_name, np.asarray(column[x_name], float).tolist(),
                            series, str(path))
    finally:
        spec.close()


# -- PNG ------------------------------------------------------------------------------

def save_png(data: ScanPlotData, path: Path) -> dict[str, Any]:
    """Write the plot as a PNG; returns the plotted arrays (also in the PNG's text chunk)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 5), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for name, values in data.series.items():
        axes.plot(data.x, values, marker="o", markersize=3, label=name)
    marks = data.marks()
    for (label, x), color in zip(marks.items(), ("tab:red", "tab:green")):
        axes.axvline(x, color=color, linestyle="--", linewidth=1, label=f"{label} {x:.4g}")
    axes.set_xlabel(data.x_name)
    axes.set_ylabel(", ".join(data.series) or "counts")
    label = f"#{data.scan_id} " if data.scan_id is not None else ""
    axes.set_title(f"{label}{data.title}", fontsize=10)
    if data.series:
        axes.legend(fontsize=8)
    axes.grid(True, alpha=0.3)
    plotted = {
        "scan_id": data.scan_id, "title": data.title, "source": data.source,
        "x_name": data.x_name,
        "x": ([float(v) for v in np.asarray(axes.lines[0].get_xdata(), dtype=float)]
              if axes.lines else []),
        "series": {line.get_label(): [_finite(v) for v in np.asarray(line.get_ydata(),
                                                                     dtype=float)]
                   for line in axes.lines[:len(data.series)]},
        "marks": marks,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png", metadata={
        "Software": "mspock showscan", "Title": f"{label}{data.title}",
        PNG_DATA_KEY: json.dumps(plotted)})
    return plotted


def _finite(value: Any) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def read_png_data(path: Path) -> dict[str, Any]:
    """The plotted arrays stored in a PNG written by `save_png`."""
    from PIL import Image, PngImagePlugin

    with Image.open(path) as image:
        if not isinstance(image, PngImagePlugin.PngImageFile):
            raise ShowScanError(f"{path} is not a PNG")
        return json.loads(image.text[PNG_DATA_KEY])


def default_png_path(scan_id: int | None, folder: str | os.PathLike | None = None) -> Path:
    base = Path(folder or os.environ.get("MSPOCK_PLOT_DIR") or Path.cwd())
    return base / f"scan_{scan_id if scan_id is not None else 'last'}.png"


# -- text plot ------------------------------------------------------------------------

def _fmt(value: float) -> str:
    return f"{value:.4g}"


def text_plot(x: Sequence[float], series: Mapping[str, Sequence[float]], width: int = 72,
              height: int = 16, x_name: str = "", title: str = "",
              marks: Mapping[str, float] | None = None) -> str:
    """A scatter plot in characters: one marker per series, axis ranges on the frame;
    `marks` (peak, cen) are drawn as `^` under the axis, named in the last line."""
    points = [(name, [(float(a), float(b)) for a, b in zip(x, ys)
                      if b is not None and math.isfinite(float(b)) and math.isfinite(float(a))])
              for name, ys in series.items()]
    values = [p for _, pts in points for p in pts]
    lines = [title] if title else []
    if not values:
        return "\n".join(lines + ["(no data points yet)"])
    xs = [p[0] for p in values]
    ys = [p[1] for p in values]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    if x1 == x0:
        x0, x1 = x0 - 0.5, x1 + 0.5
    if y1 == y0:
        y0, y1 = y0 - 0.5, y1 + 0.5
    labels = [_fmt(y1), _fmt((y0 + y1) / 2), _fmt(y0)]
    margin = max(len(s) for s in labels) + 1
    columns = max(10, width - margin - 2)
    rows = max(4, height)
    grid = [[" "] * columns for _ in range(rows)]
    for index, (_, pts) in enumerate(points):
        marker = MARKERS[index % len(MARKERS)]
        for a, b in pts:
            col = round((a - x0) / (x1 - x0) * (columns - 1))
            row = rows - 1 - round((b - y0) / (y1 - y0) * (rows - 1))
            grid[row][col] = marker
    for row in range(rows):
        if row == 0:
            label = labels[0]
        elif row == rows - 1:
            label = labels[2]
        elif row == (rows - 1) // 2:
            label = labels[1]
        else:
            label = ""
        lines.append(f"{label:>{margin}}|" + "".join(grid[row]) + "|")
    lines.append(" " * margin + "+" + "-" * columns + "+")
    if marks:
        under = [" "] * columns
        for x_mark in marks.values():
            col = round((x_mark - x0) / (x1 - x0) * (columns - 1))
            if 0 <= col < columns:
                under[col] = "^"
        lines.append(" " * (margin + 1) + "".join(under).rstrip())
    left, right = _fmt(x0), _fmt(x1)
    gap = max(1, columns + 2 - len(left) - len(right))
    lines.append(" " * margin + left + " " * gap + right)
    legend = "  ".join(f"{MARKERS[i % len(MARKERS)]} {name}" for i, (name, _) in
                       enumerate(points))
    lines.append(" " * margin + (f"x: {x_name}   " if x_name else "") + legend)
    if marks:
        lines.append(" " * margin + "^ " + ", ".join(f"{k} {_fmt(v)}" for k, v in marks.items()))
    return "\n".join(lines)


def plot_text(data: ScanPlotData, width: int = 72, height: int = 16) -> str:
    label = f"Scan #{data.scan_id}: " if data.scan_id is not None else ""
    return text_plot(data.x, data.series, width, height, data.x_name,
                     f"{label}{data.title}", data.marks())


# -- online ---------------------------------------------------------------------------

class OnlineScan:
    """The scan being received from the JSON recorder, as plot data."""

    def __init__(self) -> None:
        self.data: ScanPlotData | None = None
        self.npoints: int | None = None
        self.ended: str = ""
        self.version = 0

    def feed(self, packet: dict[str, Any]) -> None:
        kind = packet.get("type")
        body = packet.get("data") or {}
        if kind == "data_desc":
            columns = body.get("column_desc") or []
            scalar = [c["name"] for c in columns if not c.get("shape")]
            refs = [m for m in body.get("ref_moveables") or [] if m in scalar]
            x_name = refs[0] if refs else ("point_nb" if "point_nb" in scalar else "")
            counters = [c["name"] for c in columns if not c.get("shape")
                        and c.get("role") == Role.COUNTER]
            if not counters:
                counters = [c for c in body.get("counters") or [] if c in scalar]
            self.data = ScanPlotData(body.get("serialno"), str(body.get("title", "")),
                                     x_name, [], {c: [] for c in counters})
            self.npoints = body.get("npoints")
            self.ended = ""
        elif kind == "record_data" and self.data is not None:
            x = body.get(self.data.x_name)
            if x is None:
                x = body.get("point_nb", len(self.data.x))
            self.data.x.append(float(x))
            for name, values in self.data.series.items():
                value = body.get(name)
                values.append(float(value) if isinstance(value, (int, float)) else math.nan)
        elif kind == "record_end":
            self.ended = str(body.get("status", "done"))
            if self.data is not None and self.data.series:
                first = next(iter(self.data.series))
                stats = ((body.get("stats") or {}).get("Stats") or {}).get(self.data.x_name)
                self.data.stats = dict((stats or {}).get(first) or {})
        else:
            return
        self.version += 1

    def render(self, width: int = 72, height: int = 14) -> str:
        if self.data is None:
            return "Waiting for a scan to start on this door... (Ctrl-C leaves)"
        total = f"/{self.npoints}" if self.npoints else ""
        state = f"ended: {self.ended}" if self.ended else "running"
        text = plot_text(self.data, width, height)
        return f"{text}\n{len(self.data.x)}{total} points, {state}"
