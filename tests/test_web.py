"""`macroserver web` in a real headless browser (Debian's chromium + chromedriver, Selenium).

A MacroServer device server runs the packaged demo configuration from a fresh environment
(no senv: points are published by default); `macroserver web` runs as its own process on
a free loopback port, finding the doors through TANGO_HOST. While a scan runs the page
must gain plot points, its table must end up equal to the NeXus file of the scan, the
door's state changes must show, the last scans must list the scan's files; without
files, the image comes from the channel's own device. Screenshots: the tmp folder.

.ci/run installs chromium and chromium-driver when missing; elsewhere the browser tests
skip with a message saying so.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Callable, Iterator

import h5py
import pytest

from macroserver.tango.client import DoorClient
from macroserver.tango.database import stop_process
from macroserver.tango.stack import doors_of, server_description

pytestmark = pytest.mark.timeout(120)

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
INSTANCE = "webview"
SERVE = [sys.executable, "-m", "macroserver.cli.admin", "serve"]
SCAN = "ascan theta 0 2 40 0.1"  # 41 points, about 5 s
POINTS = 41


def _wait(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


@pytest.fixture(scope="module")
def system(module_device_server: Any, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[dict[str, Any]]:
    base = tmp_path_factory.mktemp("web")
    data = base / "data"
    data.mkdir()
    description = server_description(INSTANCE, {
        "Config": ["demo"], "DataRoots": [str(data)],
        "EnvironmentDb": [str(base / "environment.json")]})
    module_device_server(SERVE, "MacroServer", INSTANCE,
                         description["servers"]["MacroServer"][INSTANCE], timeout=60)
    door = doors_of(description)[0]
    with DoorClient(door) as client:  # a fresh environment: the tests set what they need
        yield {"door": door, "client": client, "data": data, "base": base}


def _with_files(system: dict[str, Any]) -> None:
    system["client"].set_environment({"ScanDir": str(system["data"]),
                                      "ScanFile": ["web.dat", "web.h5"]})


@pytest.fixture(scope="module")
def web(system: dict[str, Any]) -> Iterator[str]:
    """`macroserver web` as its own process; its URL once it shows our door."""
    log_path = system["base"] / "web.log"
    with open(log_path, "wb") as log:  # port 0: it binds the port it says (no race)
        process = subprocess.Popen(
            [sys.executable, "-m", "macroserver.cli.admin", "web", "--port", "0"],
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})

    def listens() -> str | None:
        if process.poll() is not None:
            raise AssertionError(f"macroserver web exited: {log_path.read_text()}")
        found = re.search(r"live scan view on (http://127\.0\.0\.1:\d+/)",
                          log_path.read_text())
        return found[1] if found else None

    def shows_door() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"macroserver web exited: {log_path.read_text()}")
        try:
            with urllib.request.urlopen(url + "api/state", timeout=2) as reply:
                state = json.load(reply)
        except (OSError, ValueError):
            return False
        return any(d["name"] == system["door"] and d["state"] == "ON" for d in state["doors"])

    try:
        url = _wait(listens, 30, "macroserver web to listen", 0.2)
        _wait(shows_door, 30, "macroserver web to show the door", 0.2)
        yield url
    finally:
        stop_process(process)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.skip("needs Debian's chromium and chromium-driver "
                    "(apt-get install -y chromium chromium-driver; .ci/run does it)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1400,1800",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(flag)
    service = Service(executable_path=CHROMEDRIVER,
                      log_output=str(tmp_path_factory.mktemp("chromedriver") / "log"))
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(30)
    driver.set_script_timeout(10)
    try:
        yield driver
    finally:
        driver.quit()


def _door_js(door: str, expression: str) -> str:
    """JS returning `expression` evaluated with `d` = the door's section (or null)."""
    return (f"const d = document.querySelector('section.door[data-door=\"{door}\"]');"
            f"return d ? ({expression}) : null;")


def _screenshot(driver: Any, path: Path) -> None:
    assert driver.save_screenshot(str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000


def test_fresh_environment_points_spectrum_and_image_without_files(
    system: dict[str, Any], web: str, browser: Any, tmp_path: Path
) -> None:
    """No senv at all, no ScanFile: the points, the plot, the spectrum and the image
    (from the channel's own Tango device) appear while the scan runs; with JsonRecorder
    False the page says so and gives the command."""
    door, client = system["door"], system["client"]
    unset = [n for n in ("JsonRecorder", "ScanFile", "ScanDir") if n in client.environment()]
    if unset:  # this test may run after the others
        client.set_environment({}, remove=unset)
    browser.get(web)
    js = lambda expression: browser.execute_script(_door_js(door, expression))  # noqa: E731
    _wait(lambda: js("d.querySelector('.state').textContent") == "ON", 15, "door ON")
    assert js("d.dataset.publishes") == "yes" and js("d.querySelector('.points-off').hidden")
    outcome = client.start(SCAN)
    plotted = lambda: int(js("d.querySelector('canvas.plot').dataset.points") or 0)  # noqa: E731
    _wait(lambda: plotted() >= 3, 20, "the first points")
    _wait(lambda: js("d.querySelector('canvas.spectrum').dataset.points") == "256", 10,
          "the spectrum")
    _wait(lambda: js("d.querySelector('img.image').naturalWidth") == 251, 10,
          "the image, from the beam channel's device")
    with urllib.request.urlopen(f"{web}image?door={door}", timeout=5) as reply:
        assert reply.read()[:8] == b"\x89PNG\r\n\x1a\n"
    assert outcome.state == "", "the scan ended before the page showed its image"
    _screenshot(browser, tmp_path / "web-no-files.png")
    client.wait(outcome, timeout=60)
    assert outcome.ok, outcome.error
    _wait(lambda: plotted() == POINTS, 10, "every point")
    assert not list(system["data"].iterdir())  # no file was written
    with urllib.request.urlopen(f"{web}image?door={door}", timeout=5) as reply:
        assert reply.status == 200  # after the scan as well

    client.set_environment({"JsonRecorder": False})
    _wait(lambda: js("d.dataset.publishes") == "no", 10, "the page saying no points come")
    assert "senv JsonRecorder True" in js("d.querySelector('.points-off').textContent")
    assert not js("d.querySelector('.points-off').hidden")
    client.set_environment({}, remove=["JsonRecorder"])
    _wait(lambda: js("d.dataset.publishes") == "yes", 10, "points published again")


def test_live_scan_plot_table_state_and_history(
    system: dict[str, Any], web: str, browser: Any, tmp_path: Path
) -> None:
    door, client = system["door"], system["client"]
    _with_files(system)
    browser.get(web)
    js = lambda expression: browser.execute_script(_door_js(door, expression))  # noqa: E731
    _wait(lambda: js("d.querySelector('.state').textContent") == "ON", 15, "door ON")
    _wait(lambda: browser.execute_script(
        "return document.getElementById('connection').dataset.connected") == "true",
        10, "the event stream")

    shown_before = js("d.querySelector('.scan-title').textContent")  # an earlier scan's
    outcome = client.start(SCAN)
    _wait(lambda: js("d.querySelector('.state').textContent") == "RUNNING", 10,
          "RUNNING on the page")
    plotted = lambda: int(js("d.querySelector('canvas.plot').dataset.points") or 0)  # noqa: E731
    first = _wait(lambda: js("d.querySelector('.scan-title').textContent") != shown_before
                  and plotted() >= 3 and plotted(), 20, "the first points of this scan")
    assert outcome.state == "", "the scan ended before the page showed points"
    _wait(lambda: plotted() > first, 10, "more points")
    assert outcome.state == "", "the plot did not grow while the scan ran"
    _screenshot(browser, tmp_path / "web-during-scan.png")

    client.wait(outcome, timeout=60)
    assert outcome.ok, outcome.error
    _wait(lambda: js("d.querySelector('.scan-end').dataset.status") == "done", 10, "scan end")
    assert plotted() == POINTS
    # the peak and the FWHM centre of the record_end statistics, marked and captioned
    stats = next(v for k, v in client.environment().items()
                 if k.lower() == f"{door}.ScanStats".lower())
    value = stats["Stats"]["theta"]["value"]
    marked = js("d.querySelector('.scan-stats').dataset")
    assert float(marked["peak"]) == value["maxpos"] and float(marked["cen"]) == value["cen"]
    assert js("d.querySelector('.scan-stats').textContent").startswith("value: max ")
    _wait(lambda: js("d.querySelector('.state').textContent") == "ON", 10, "ON again")
    log = js("[...d.querySelectorAll('.state-log li')].map(li => li.dataset.state)")
    assert log[-2:] == ["RUNNING", "ON"] and "ON" in log[:-2], log

    # the table is the scan: same columns, same points as the NeXus file
    table = js("""({
        head: [...d.querySelectorAll('.scan-table thead th')].map(th => th.title),
        rows: [...d.querySelectorAll('.scan-table tbody tr')].map(
            tr => [...tr.children].map(td => td.textContent)),
        title: d.querySelector('.scan-title').textContent})""")
    assert table["head"] == ["point_nb", "theta", "uxtimer", "value"]
    assert len(table["rows"]) == POINTS
    serialno = int(table["title"].split()[0].lstrip("#"))
    assert table["title"] == f"#{serialno} {SCAN}"
    h5 = system["data"] / "web.h5"
    with h5py.File(h5, "r") as f:
        measurement = f[f"entry{serialno}/measurement"]
        for column, name in enumerate(table["head"]):
            stored = measurement[name][()].tolist()
            shown = [float(row[column]) for row in table["rows"]]
            assert shown == pytest.approx(stored, rel=1e-5, abs=1e-9), name

    # latest spectrum (inline in record_data) and image (read from the NeXus file)
    assert int(js("d.querySelector('canvas.spectrum').dataset.points")) == 256
    _wait(lambda: js("d.querySelector('img.image').naturalWidth") == 251, 10, "the image")
    last = f"beam at point {POINTS - 1} (251 × 251"
    _wait(lambda: js("d.querySelector('.image-figure figcaption').textContent"
                     ).startswith(last), 10, "the last frame")

    # last scans: this one with its files
    row = _wait(lambda: browser.execute_script(
        f"const r = document.querySelector('#history tr[data-serialno=\"{serialno}\"]');"
        "return r && [...r.children].map(td => td.textContent);"), 10, "the history row")
    assert row[1] == SCAN and row[2] == "done" and row[3] == str(POINTS)
    assert row[5].split("\n") == [str(system["data"] / "web.dat"), str(h5)]
    # each file a read-only download; nothing else of the disk
    links = browser.execute_script(
        f"return [...document.querySelectorAll('#history tr[data-serialno=\"{serialno}\"] "
        "td.files a')].map(a => a.href);")
    with urllib.request.urlopen(links[1], timeout=10) as reply:
        assert reply.read() == h5.read_bytes()
        assert "attachment" in reply.headers["Content-Disposition"]
    for other in (system["base"] / "environment.json", Path("/etc/passwd"),
                  system["data"] / ".." / "data" / "web.h5"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{web}file?path={urllib.parse.quote(str(other))}",
                                   timeout=5)
        assert refused.value.code == 404


def test_stopped_scan_shows_its_status(system: dict[str, Any], web: str, browser: Any) -> None:
    door, client = system["door"], system["client"]
    _with_files(system)
    browser.get(web)
    js = lambda expression: browser.execute_script(_door_js(door, expression))  # noqa: E731
    _wait(lambda: js("d.querySelector('.state').textContent") == "ON", 15, "door ON")
    # Frames as late as on a loaded machine: the plot's point count must still be the new
    # scan's at once (it once kept the previous scan's count until the next frame, so the
    # wait below passed before the new scan had a point, and the stop left 1).
    browser.execute_script("window.requestAnimationFrame = f => setTimeout(f, 500);")
    command = "ascan theta 0 5 200 0.05"
    outcome = client.start(command)
    _wait(lambda: js("d.querySelector('.scan-title').textContent").endswith(command)
          and int(js("d.querySelector('canvas.plot').dataset.points") or 0) >= 2, 20,
          "points of the new scan")
    # MacroStatus's progress and the time left of the scan's forecast (~10 s)
    _wait(lambda: not js("d.querySelector('.macro-progress').hidden")
          and " left of ~0:1" in js("d.querySelector('.time-left').textContent"), 10,
          "the progress bar and the time left")
    client.stop()
    client.wait(outcome, timeout=30)
    _wait(lambda: js("d.querySelector('.scan-end').dataset.status") == "stopped", 10,
          "stopped on the page")
    shown = int(js("d.querySelector('.scan-progress').dataset.points"))
    assert 2 <= shown < 201
    assert len(js("[...d.querySelectorAll('.scan-table tbody tr')]")) == shown
    _wait(lambda: js("d.querySelector('.state').textContent") == "ON", 10, "ON again")
    assert js("d.querySelector('.macro-progress').hidden")


def test_read_only(web: str, browser: Any) -> None:
    browser.get(web)
    assert browser.execute_script(
        "return document.querySelectorAll('form, button, input, select, textarea').length") == 0
    for method in ("POST", "PUT", "DELETE"):
        request = urllib.request.Request(web + "events", data=b"{}", method=method)
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=5)
        assert refused.value.code == 405
    with urllib.request.urlopen(web + "static/app.js", timeout=5) as reply:
        script = reply.read().decode()
    assert "RunMacro" not in script and "http" not in script.replace("http://", "")


def test_cli_binds_loopback_by_default() -> None:
    from macroserver.cli.admin import build_parser

    args = build_parser().parse_args(["web"])
    assert (args.host, args.port) == ("127.0.0.1", 8642)


def test_image_png_and_strict_messages() -> None:
    import struct
    import zlib

    import numpy as np

    from macroserver.web.images import png_image
    from macroserver.web.messages import dumps

    frame = np.arange(600 * 300, dtype=np.float64).reshape(600, 300)
    frame[0, 0] = np.nan
    png, lo, hi = png_image(frame)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert (width, height) == (150, 300)  # decimated to at most 512 a side
    (length,) = struct.unpack(">I", png[33:37])
    assert len(zlib.decompress(png[41:41 + length])) == height * (1 + 3 * width)
    assert (lo, hi) == (2.0, float(598 * 300 + 298))  # of the decimated frame, NaN left out
    assert json.loads(dumps({"v": [float("nan"), float("inf"), 1.5]})) == {"v": [None, None, 1.5]}


def test_continuous_scan_blocks_reach_the_page_in_one_message_with_every_point() -> None:
    """A record_block (continuous scans, coalesced step scans) becomes one `points`
    message holding every point's row and its own `taken`, none dropped."""
    from macroserver.packets import decode
    from macroserver.web.door_model import DoorModel

    model = DoorModel("door/test/1")
    model.apply_record({"type": "data_desc", "macro_id": "m", "data": {"column_desc": []}})
    block = decode(json.dumps({
        "type": "record_block", "macro_id": "m", "taken": [10.0, 10.5, 11.0],
        "data": {"point_nb": [0, 1, 2], "m1": [0.0, 0.5, 1.0], "c1": [3, None, 5]}}))
    messages, _ = model.apply_record(block)
    assert [m["kind"] for m in messages] == ["points"]
    assert [(r["point_nb"], r["c1"], t) for r, t in zip(messages[0]["rows"],
                                                         messages[0]["taken"])] == [
        (0, 3, 10.0), (1, None, 10.5), (2, 5, 11.0)]
    assert model.scan is not None and len(model.scan["rows"]) == 3
    assert decode('{"c1": NaN}')["c1"] != 0  # Sardana's own packets decode too
