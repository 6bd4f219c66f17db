// macroserver web: the live scan page. Plain JavaScript, no library, no build step.
// One EventSource on /events: a "snapshot" message, then one message per change
// (kinds: door, door_info, state, macro, output, desc, points, end, image, history).
"use strict";

const MAX_TABLE_ROWS = 1000;   // older rows leave the table (the plot keeps every point)
const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
                "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"];

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.className = value;
    else if (key.startsWith("data-")) node.setAttribute(key, value);
    else node[key] = value;
  }
  for (const child of children) {
    if (child !== null && child !== undefined) {
      node.append(child instanceof Node ? child : String(child));
    }
  }
  return node;
}

function formatValue(value) {
  if (value === null || value === undefined) return "";
  if (typeof value === "boolean") return value ? "1" : "0";
  if (typeof value !== "number") return String(value);
  if (Number.isInteger(value)) return String(value);
  return String(parseFloat(value.toPrecision(6)));
}

function clock(seconds) {
  return new Date(seconds * 1000).toLocaleTimeString([], {hour12: false});
}

// ---- a small line plot on a canvas ------------------------------------------------

function niceTicks(lo, hi, count) {
  if (!(hi > lo)) { const pad = Math.abs(lo) * 0.1 || 1; lo -= pad; hi += pad; }
  const raw = (hi - lo) / count;
  const magnitude = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map(f => f * magnitude).find(s => s >= raw);
  const ticks = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) {
    ticks.push(Math.abs(t) < step * 1e-9 ? 0 : t);
  }
  return {lo, hi, ticks};
}

class Plot {
  constructor(canvas, markers = true) {
    this.canvas = canvas;
    this.markers = markers;
    this.xLabel = "";
    this.series = [];  // {name, xs, ys}
    this.marks = [];   // {x, label, color}: vertical lines (peak and centre at scan end)
    this.pending = false;
  }

  count() {  // points of the longest series (x and y both known)
    return this.series.length ? Math.max(...this.series.map(
      s => s.ys.filter((y, i) => y !== null && s.xs[i] !== null).length)) : 0;
  }

  setSeries(xLabel, series) {
    this.xLabel = xLabel;
    this.series = series;
    this.marks = [];
    this.redraw();
  }

  setMarks(marks) {
    this.marks = marks;
    this.redraw();
  }

  // Call after every change of the series: the point count (canvas data-points, read by
  // the tests) follows the data at once; the drawing waits for the next animation frame,
  // which a busy machine may deliver late (a count set only when drawing lagged behind:
  // the previous scan's count showed next to the new scan's title).
  redraw() {
    this.canvas.dataset.points = String(this.count());
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => { this.pending = false; this.draw(); });
  }

  draw() {
    const canvas = this.canvas;
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth || 600, height = canvas.clientHeight || 300;
    if (canvas.width !== Math.round(width * ratio)) canvas.width = Math.round(width * ratio);
    if (canvas.height !== Math.round(height * ratio)) canvas.height = Math.round(height * ratio);
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    const left = 64, right = 12, top = 24, bottom = 40;
    const plotW = width - left - right, plotH = height - top - bottom;

    let xmin = Infinity, xmax = -Infinity, ymin = Infinity, ymax = -Infinity, points = 0;
    for (const s of this.series) {
      for (let i = 0; i < s.xs.length; i++) {
        const x = s.xs[i], y = s.ys[i];
        if (x === null || y === null || !isFinite(x) || !isFinite(y)) continue;
        xmin = Math.min(xmin, x); xmax = Math.max(xmax, x);
        ymin = Math.min(ymin, y); ymax = Math.max(ymax, y);
        points++;
      }
    }
    for (const m of this.marks) { xmin = Math.min(xmin, m.x); xmax = Math.max(xmax, m.x); }
    ctx.strokeStyle = "#999"; ctx.lineWidth = 1;
    ctx.strokeRect(left, top, plotW, plotH);
    ctx.fillStyle = "#333"; ctx.font = "12px sans-serif";
    if (!points) {
      ctx.fillText("no points yet", left + 10, top + 20);
      return;
    }
    const xs = niceTicks(xmin, xmax, 6), ys = niceTicks(ymin, ymax, 5);
    const X = x => left + (x - xs.lo) / (xs.hi - xs.lo) * plotW;
    const Y = y => top + plotH - (y - ys.lo) / (ys.hi - ys.lo) * plotH;
    ctx.textAlign = "center"; ctx.textBaseline = "top";
    for (const t of xs.ticks) {
      ctx.strokeStyle = "#eee"; ctx.beginPath(); ctx.moveTo(X(t), top); ctx.lineTo(X(t), top + plotH); ctx.stroke();
      ctx.fillText(formatValue(t), X(t), top + plotH + 4);
    }
    ctx.fillText(this.xLabel, left + plotW / 2, top + plotH + 20);
    ctx.textAlign = "right"; ctx.textBaseline = "middle";
    for (const t of ys.ticks) {
      ctx.strokeStyle = "#eee"; ctx.beginPath(); ctx.moveTo(left, Y(t)); ctx.lineTo(left + plotW, Y(t)); ctx.stroke();
      ctx.fillText(formatValue(t), left - 4, Y(t));
    }
    ctx.save();
    ctx.beginPath(); ctx.rect(left, top, plotW, plotH); ctx.clip();
    this.series.forEach((s, n) => {
      const color = COLORS[n % COLORS.length];
      ctx.strokeStyle = color; ctx.fillStyle = color; ctx.lineWidth = 1.5;
      ctx.beginPath();
      let drawing = false;
      for (let i = 0; i < s.xs.length; i++) {
        const x = s.xs[i], y = s.ys[i];
        if (x === null || y === null) { drawing = false; continue; }
        if (drawing) ctx.lineTo(X(x), Y(y)); else ctx.moveTo(X(x), Y(y));
        drawing = true;
      }
      ctx.stroke();
      if (this.markers && s.xs.length <= 500) {
        for (let i = 0; i < s.xs.length; i++) {
          if (s.xs[i] === null || s.ys[i] === null) continue;
          ctx.beginPath(); ctx.arc(X(s.xs[i]), Y(s.ys[i]), 2.5, 0, 2 * Math.PI); ctx.fill();
        }
      }
    });
    ctx.textAlign = "left"; ctx.textBaseline = "top";
    for (const m of this.marks) {
      ctx.strokeStyle = m.color; ctx.fillStyle = m.color; ctx.lineWidth = 1;
      ctx.setLineDash([5, 4]);
      ctx.beginPath(); ctx.moveTo(X(m.x), top); ctx.lineTo(X(m.x), top + plotH); ctx.stroke();
      ctx.setLineDash([]);
      ctx.fillText(m.label, X(m.x) + 3, top + 4 + 14 * this.marks.indexOf(m));
    }
    ctx.restore();
    ctx.textAlign = "left"; ctx.textBaseline = "middle";
    let lx = left + 8;
    this.series.forEach((s, n) => {
      ctx.fillStyle = COLORS[n % COLORS.length];
      ctx.fillRect(lx, 8, 10, 10);
      ctx.fillStyle = "#333";
      ctx.fillText(s.name, lx + 14, 13);
      lx += 24 + ctx.measureText(s.name).width;
    });
  }
}

// ---- one door -------------------------------------------------------------------

// seconds as h:mm:ss (m:ss under an hour)
function duration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600), m = Math.floor(s % 3600 / 60), r = s % 60;
  const mm = h ? String(m).padStart(2, "0") : String(m);
  return `${h ? h + ":" : ""}${mm}:${String(r).padStart(2, "0")}`;
}

class DoorView {
  constructor(name) {
    this.name = name;
    this.stateBadge = el("span", {class: "state", "data-state": "UNKNOWN"}, "UNKNOWN");
    this.stateError = el("span", {class: "state-error"});
    this.macroLine = el("span", {class: "macro"});
    this.macroBar = el("progress", {class: "macro-progress", max: "100", value: "0"});
    this.macroBar.hidden = true;
    this.timeLeft = el("span", {class: "time-left"});
    this.stateLog = el("ol", {class: "state-log"});
    this.title = el("h3", {class: "scan-title"}, "no scan yet");
    this.pointsOff = el("p", {class: "points-off"},
      "This door publishes no points (JsonRecorder is False), so no plot or table: ",
      el("code", {}, "senv JsonRecorder True"), " (in mspock or spock) turns them on.");
    this.pointsOff.hidden = true;
    this.progress = el("span", {class: "scan-progress"});
    this.scanEnd = el("span", {class: "scan-end"});
    this.scanStats = el("span", {class: "scan-stats"});
    this.plotCanvas = el("canvas", {class: "plot", "data-points": "0"});
    this.spectrumCanvas = el("canvas", {class: "spectrum", "data-points": "0"});
    this.spectrumCaption = el("figcaption", {}, "no spectrum");
    this.image = el("img", {class: "image", alt: "latest image"});
    this.image.hidden = true;
    this.imageCaption = el("figcaption", {}, "no image");
    this.tableHead = el("thead");
    this.tableBody = el("tbody");
    this.table = el("table", {class: "scan-table"}, this.tableHead, this.tableBody);
    this.tableNote = el("p", {class: "note"});
    this.output = el("pre", {class: "output"});
    this.plot = new Plot(this.plotCanvas);
    this.spectrumPlot = new Plot(this.spectrumCanvas, false);
    this.scan = null;
    this.columns = [];
    this.root = el("section", {class: "door", "data-door": name},
      el("div", {class: "door-head"},
        el("h2", {}, name), this.stateBadge, this.macroLine, this.macroBar, this.timeLeft,
        this.stateError),
      el("details", {class: "state-history"}, el("summary", {}, "state changes"), this.stateLog),
      el("div", {class: "scan-head"}, this.title, this.progress, this.scanEnd, this.scanStats),
      this.pointsOff,
      el("div", {class: "figures"},
        el("figure", {class: "main-plot"}, this.plotCanvas),
        el("figure", {class: "spectrum-figure"}, this.spectrumCanvas, this.spectrumCaption),
        el("figure", {class: "image-figure"}, this.image, this.imageCaption)),
      el("div", {class: "table-wrap"}, this.table), this.tableNote,
      el("details", {class: "output-wrap", open: true}, el("summary", {}, "Output"), this.output));
  }

  load(door) {
    this.stateLog.replaceChildren();
    for (const entry of door.state_log) this.logState(entry.state, entry.t);
    this.setState(door.state, door.state_error, null);
    this.setMacro(door.macro);
    this.output.textContent = "";
    this.addOutput(door.output);
    this.setScan(door.scan);
    this.setSpectra(door.spectra || {});
    this.setImage(door.image);
    this.setPublishing(door.publishes_points !== false);
  }

  setPublishing(publishes) {
    this.pointsOff.hidden = publishes;
    this.root.dataset.publishes = publishes ? "yes" : "no";
  }

  setState(state, error, t) {
    if (t !== null && state !== this.stateBadge.dataset.state) this.logState(state, t);
    this.stateBadge.textContent = state;
    this.stateBadge.dataset.state = state;
    this.stateError.textContent = error || "";
  }

  logState(state, t) {
    this.stateLog.append(el("li", {"data-state": state}, `${clock(t)} ${state}`));
    while (this.stateLog.children.length > 50) this.stateLog.firstChild.remove();
  }

  setMacro(status) {
    const running = !!status && (status.state === "step" || status.state === "start");
    this.macroBar.hidden = !running;
    this.timeLeft.textContent = "";
    if (!status || !status.name) { this.macroLine.textContent = ""; return; }
    let text = `${status.name}: ${status.state}`;
    if (status.state === "step" && typeof status.step === "number") {
      text += ` ${Math.round(status.step)}%`;
      this.macroBar.value = status.step;
    }
    // the scan's forecast and the time left (MacroStatus's estimated_time, remaining_time)
    if (running && typeof status.remaining_time === "number") {
      this.timeLeft.textContent = `${duration(status.remaining_time)} left of ~${duration(status.estimated_time)}`;
    }
    if (status.exc_value) text += ` (${status.exc_value})`;
    this.macroLine.textContent = text;
  }

  addOutput(lines) {
    if (!lines || !lines.length) return;
    this.output.textContent += lines.join("\n") + "\n";
    const all = this.output.textContent.split("\n");
    if (all.length > 400) this.output.textContent = all.slice(-400).join("\n");
    this.output.scrollTop = this.output.scrollHeight;
  }

  setScan(scan) {
    this.scan = scan;
    this.tableHead.replaceChildren();
    this.tableBody.replaceChildren();
    this.tableNote.textContent = "";
    this.scanEnd.textContent = "";
    this.scanEnd.dataset.status = "";
    this.scanStats.textContent = "";
    delete this.scanStats.dataset.peak;
    delete this.scanStats.dataset.cen;
    this.root.dataset.scan = scan ? "yes" : "no";
    if (!scan) {
      this.title.textContent = "no scan yet";
      this.progress.textContent = "";
      this.plot.setSeries("", []);
      return;
    }
    const desc = scan.desc;
    this.title.textContent = `#${desc.serialno} ${desc.title}`;
    this.columns = desc.column_desc.filter(c => c.shape.length === 0 && c.output !== false);
    this.tableHead.append(el("tr", {}, ...this.columns.map(c => el("th", {title: c.name}, c.label))));
    const names = new Set(desc.column_desc.map(c => c.name));
    const ref = (desc.ref_moveables || []).find(m => names.has(m));
    this.xName = ref || "point_nb";
    this.yNames = desc.column_desc.filter(c => c.role === "counter" && c.shape.length === 0)
      .map(c => c.name);
    const labels = Object.fromEntries(desc.column_desc.map(c => [c.name, c.label]));
    this.series = this.yNames.map(n => ({name: labels[n], key: n, xs: [], ys: []}));
    for (const row of scan.rows) this.appendRow(row);
    this.plot.setSeries(labels[this.xName] || this.xName, this.series);
    this.updateProgress();
    if (scan.end) this.setEnd(scan.end);
  }

  // The points of one message (a coalesced block): rows, table and plot at once.
  addPoints(rows) {
    if (!this.scan) return;
    this.scan.rows.push(...rows);
    for (const row of rows) this.appendRow(row);
    this.plot.redraw();
    this.updateProgress();
    const wrap = this.table.parentElement;
    wrap.scrollTop = wrap.scrollHeight;
  }

  appendRow(row) {
    const tr = el("tr", {"data-point": row.point_nb},
      ...this.columns.map(c => el("td", {}, formatValue(row[c.name]))));
    this.tableBody.append(tr);
    if (this.tableBody.children.length > MAX_TABLE_ROWS) {
      this.tableBody.firstChild.remove();
      this.tableNote.textContent = `showing the last ${MAX_TABLE_ROWS} points`;
    }
    const x = row[this.xName] === undefined ? null : row[this.xName];
    for (const s of this.series) {
      s.xs.push(x);
      s.ys.push(row[s.key] === undefined ? null : row[s.key]);
    }
  }

  updateProgress() {
    const n = this.scan.rows.length, planned = this.scan.desc.npoints;
    this.progress.textContent = planned ? `${n} / ${planned} points` : `${n} points`;
    this.progress.dataset.points = String(n);
  }

  setEnd(end) {
    if (!this.scan) return;
    this.scan.end = end;
    this.scanEnd.textContent = `${end.status}${end.reason ? ": " + end.reason : ""} at ${end.endtime}`;
    this.scanEnd.dataset.status = end.status;
    this.showStats(end.stats);
  }

  // The first plotted counter's peak and FWHM centre against the x motor (ScanStats).
  showStats(stats) {
    const perChannel = stats && stats.Stats && stats.Stats[this.xName];
    const key = perChannel && this.yNames.find(n => perChannel[n]);
    if (!key) return;
    const s = perChannel[key];
    const marks = [];
    if (s.maxpos !== null) marks.push({x: s.maxpos, label: `peak ${formatValue(s.maxpos)}`, color: "#d62728"});
    if (s.cen !== null) marks.push({x: s.cen, label: `cen ${formatValue(s.cen)}`, color: "#2ca02c"});
    this.plot.setMarks(marks);
    this.scanStats.textContent = `${key}: max ${formatValue(s.max)} at ${this.xName} = ` +
      `${formatValue(s.maxpos)}, FWHM ${formatValue(s.fwhm)} centred at ${formatValue(s.cen)}, ` +
      `COM ${formatValue(s.com)}`;
    this.scanStats.dataset.peak = String(s.maxpos);
    this.scanStats.dataset.cen = String(s.cen);
  }

  setSpectra(spectra) {
    const names = Object.keys(spectra);
    if (!names.length) {
      this.spectrumCaption.textContent = "no spectrum";
      this.spectrumPlot.setSeries("", []);
      return;
    }
    const series = names.map(name => {
      const values = spectra[name].values;
      return {name, xs: values.map((v, i) => i), ys: values};
    });
    const first = spectra[names[0]];
    this.spectrumCaption.textContent = `${names.join(", ")} at point ${first.point_nb}`;
    this.spectrumPlot.setSeries("channel", series);
  }

  setImage(image) {
    if (!image) {
      this.image.hidden = true;
      this.image.removeAttribute("src");
      this.imageCaption.textContent = "no image";
      return;
    }
    if (image.url) {
      this.image.src = image.url;
      this.image.hidden = false;
      const range = image.min === null || image.min === undefined ? "" :
        `, ${formatValue(image.min)} … ${formatValue(image.max)}`;
      this.imageCaption.textContent =
        `${image.column} at point ${image.point_nb} (${image.shape.join(" × ")}${range})`;
    } else {
      this.imageCaption.textContent = `${image.column}` +
        (image.shape ? ` (${image.shape.join(" × ")})` : "") + (image.note ? ` — ${image.note}` : "");
    }
  }
}

// ---- the page -------------------------------------------------------------------

const views = new Map();
let histories = {};

function viewOf(name) {
  let view = views.get(name);
  if (!view) {
    view = new DoorView(name);
    views.set(name, view);
    document.getElementById("no-doors").hidden = true;
    const container = document.getElementById("doors");
    const after = [...views.keys()].sort().filter(n => n > name)[0];
    container.insertBefore(view.root, after ? views.get(after).root : null);
  }
  return view;
}

function renderHistory() {
  const rows = [];
  for (const [server, history] of Object.entries(histories)) {
    for (const scan of history) rows.push({server, scan});
  }
  rows.sort((a, b) => (b.scan.endts || b.scan.startts || 0) - (a.scan.endts || a.scan.startts || 0));
  const body = document.querySelector("#history tbody");
  body.replaceChildren(...rows.map(({server, scan}) => {
    const dir = scan.ScanDir || "";
    const files = (Array.isArray(scan.ScanFile) ? scan.ScanFile : scan.ScanFile ? [scan.ScanFile] : [])
      .map(f => (dir && !f.startsWith("/") ? dir.replace(/\/$/, "") + "/" : "") + f);
    return el("tr", {"data-serialno": scan.serialno},
      el("td", {}, scan.serialno), el("td", {}, scan.title || ""),
      el("td", {"data-status": scan.endstatus || ""}, scan.endstatus || ""),
      el("td", {}, scan.points ?? ""),
      el("td", {}, scan.endts ? new Date(scan.endts * 1000).toLocaleString() : ""),
      el("td", {class: "files"}, ...files.flatMap((f, i) => [i ? "\n" : null,
        el("a", {href: "/file?path=" + encodeURIComponent(f), download: ""}, f)])),
      el("td", {}, server));
  }));
}

function handle(message) {
  switch (message.kind) {
    case "snapshot": {
      const error = document.getElementById("discovery-error");
      error.textContent = message.discovery_error || "";
      error.hidden = !message.discovery_error;
      for (const door of message.doors) viewOf(door.name).load(door);
      histories = message.history || {};
      renderHistory();
      break;
    }
    case "door": viewOf(message.door.name).load(message.door); break;
    case "door_info": break;
    case "publishing": viewOf(message.door).setPublishing(message.publishes_points); break;
    case "state": viewOf(message.door).setState(message.state, message.error, message.t); break;
    case "macro": viewOf(message.door).setMacro(message.macro); break;
    case "output": viewOf(message.door).addOutput(message.lines); break;
    case "desc": viewOf(message.door).setScan(message.scan); break;
    case "points": {
      const view = viewOf(message.door);
      view.addPoints(message.rows);
      if (Object.keys(message.spectra).length) view.setSpectra(message.spectra);
      break;
    }
    case "end": viewOf(message.door).setEnd(message.end); break;
    case "image": viewOf(message.door).setImage(message.image); break;
    case "history":
      histories[message.macro_server] = message.history;
      renderHistory();
      break;
  }
}

function connect() {
  const status = document.getElementById("connection");
  const source = new EventSource("/events");
  source.onopen = () => {
    status.textContent = "live";
    status.dataset.connected = "true";
  };
  source.onerror = () => {
    status.textContent = "disconnected, retrying…";
    status.dataset.connected = "false";
  };
  source.onmessage = event => handle(JSON.parse(event.data));
}

connect();
