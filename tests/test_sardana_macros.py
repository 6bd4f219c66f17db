"""Sardana's macro API (issue 18): Sardana 3.7.1's shipped example macros and a facility's
library load unchanged and run, through `macroserver run` in a child process where the
real sardana cannot be imported, through the Door's RunMacro of a server where it can,
and a batch through Sardana's spock and our mspock on that server; a real sardana
imported in the test process is left alone."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import types
from pathlib import Path
from typing import Any, Iterator

import pytest
from collect import Collect
from sardana_macro_files import (
    BROKEN,
    EXAMPLES,
    FACILITY,
    FACILITY_UTILS,
    HIDDEN,
    HIDE_SARDANA,
    LEFT_OUT,
    MARK,
    QUESTIONS,
    copy_examples,
    example_config,
)
from tango import DevState
from tango_helpers import (
    FINAL_STATES,
    Events,
    LiveDoorEvents,
    MacroServerInstance,
    start_macroserver,
)

from macroserver.config import load_config
from macroserver.engine.core import MacroServerCore
from macroserver.engine.runner import MacroRunner
from macroserver.env import Environment
from macroserver.records import EndStatus
from macroserver.sardana_api import prepare_module

SCRIPT = Path(sys.executable).with_name("macroserver")


def macro_folder(root: Path, broken: bool = False) -> Path:
    folder = root / "macros"
    copy_examples(folder)
    (folder / "facility.py").write_text(FACILITY)
    (folder / "fac_utils.py").write_text(FACILITY_UTILS)
    (folder / "marks.py").write_text(MARK)
    (folder / "hidden.py").write_text(HIDDEN)
    for name, text in (BROKEN.items() if broken else ()):
        (folder / name).write_text(text)
    return folder


# -- macroserver run, without sardana ------------------------------------------------------

@pytest.fixture(scope="module")
def hidden(tmp_path_factory) -> dict[str, str]:
    """Environment of a child process that cannot import the real sardana."""
    site = tmp_path_factory.mktemp("hide-sardana")
    (site / "sitecustomize.py").write_text(HIDE_SARDANA)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(site), *sys.path])
    return env


def run_cli(args: list[str], env: dict[str, str], cwd: Path, stdin: str = "",
            timeout: float = 600) -> subprocess.CompletedProcess[str]:
    command = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m",
                                                      "macroserver.cli.admin"]
    return subprocess.run([*command, "run", *args], input=stdin, capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=timeout)


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory, hidden) -> tuple[dict[str, str], subprocess.CompletedProcess]:
    """Every runnable example (and the facility's macros) in one `macroserver run`,
    each after a `mark` line; its output cut per example."""
    root = tmp_path_factory.mktemp("cli-examples")
    folder = macro_folder(root, broken=True)
    runs = {**{n: c for n, (c, _) in EXAMPLES.items()},
            **{n: c for n, (c, _, _) in QUESTIONS.items()},
            "fac_count": "fac_count 0.05", "fac_where": "fac_where",
            "fac_align": "fac_align theta", "fac_api": "fac_api",
            "fac_list": "fac_list [chi phi] 1", "fac_default": "fac_default",
            "fac_hook": ["defgh fac_hook pre-scan", "ascan theta 0 1 2 0.01", "udefgh all"],
            "fac_wg": ["fac_wg theta", "lsdef .*wm|.*fac_w.*"]}
    runs = {name: [line] if isinstance(line, str) else line for name, line in runs.items()}
    commands = [part for name, lines in runs.items() for part in (f"mark {name}", *lines)]
    answers = "".join(f"{a}\n" for _, a, _ in QUESTIONS.values() for a in a)
    result = run_cli(["--config", str(example_config(root)), "--env", str(root / "env.json"),
                      "--data-root", str(root), "--macro-path", str(folder), *commands],
                     hidden, root, stdin=answers)
    sections: dict[str, str] = {}
    name = None
    for line in result.stdout.splitlines():
        if line.startswith("=== "):
            name = line[4:]
            sections[name] = ""
        elif name is not None:
            sections[name] += line + "\n"
    return sections, result


def test_the_child_cannot_import_sardana(hidden, tmp_path) -> None:
    probe = subprocess.run([sys.executable, "-c", "import sardana"], env=hidden,
                           capture_output=True, text=True, cwd=tmp_path)
    assert probe.returncode != 0 and "No module named 'sardana'" in probe.stderr


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_example_runs_through_macroserver_run(cli_run, name) -> None:
    sections, result = cli_run
    assert name in sections, (f"{name} was not reached; the run stopped: "
                              f"{result.stderr[-2000:]}")
    for expected in EXAMPLES[name][1]:
        assert expected in sections[name], sections[name]


@pytest.mark.parametrize("name", sorted(QUESTIONS))
def test_interactive_example_asks_and_uses_the_answer(cli_run, name) -> None:
    sections, result = cli_run
    assert name in sections, result.stderr[-2000:]
    for expected in QUESTIONS[name][2]:
        assert expected in sections[name], sections[name]


def test_facility_library_runs_without_sardana(cli_run) -> None:
    sections, result = cli_run
    assert result.returncode == 0, result.stderr[-3000:]
    assert "real sardana imported: False" in sections["fac_where"]
    assert "macro base: macroserver.sardana_api.base" in sections["fac_where"]
    assert "helper says fac_where (Float)" in sections["fac_where"]
    assert "counted 0.05 s" in sections["fac_count"] and "value" in sections["fac_count"]
    align = sections["fac_align"]
    assert "aligning theta from" in align and "(run 1)" in align and "Scan #" in align
    assert "hook in ascan over ['theta'] for 0.01 s" in sections["fac_hook"]
    assert sections["fac_default"].startswith("default theta at ")
    assert sections["fac_list"].splitlines() == ["chi at 0.5", "phi at 0.0",  # fac_api moved chi
                                                 "shown ['chi', 'phi']"]
    api = sections["fac_api"]
    for expected in ("twice gave 8.0", "greeting scoped / global", "Greeting is gone",
                     "objects ['theta']", "group channels ['uxtimer', 'value', 'wave', 'beam']",
                     "has ascan True", "helpers 3.0 True True",
                     "library ['fac_align', 'fac_api']", "ShowDial False",
                     "motion at [0.25, 0.5]"):
        assert expected in api, api
    lines = api.splitlines()
    at = lines.index("motor  position")
    assert lines[at + 1:at + 3] == ["-----  --------", "theta      0.25"]
    assert any(line.split() == ["left", "right"] for line in lines)
    assert any(line.split() == ["1", "3"] for line in lines)


def test_hidden_macros_are_called_by_name_and_left_out_of_lists(cli_run) -> None:
    sections, _ = cli_run
    wg = sections["fac_wg"]
    assert "hidden helper sees theta" in wg and "names have _wm True" in wg
    lines = wg.splitlines()
    at = next(n for n, line in enumerate(lines) if line.split()[:1] == ["theta"])
    float(lines[at + 1].split()[-1])  # _wm's table (wa's): the motor, then its position
    listed = [line.split()[0] for line in lines if line.strip()]
    assert "fac_wg" in listed and "wm" in listed and "pwm" in listed
    assert "_wm" not in listed and "_fac_where" not in listed


def test_plots_give_a_clear_warning(cli_run) -> None:
    _, result = cli_run
    assert "pyplot.plot() is not supported on this server" in result.stderr


def test_files_that_do_not_load_are_reported(cli_run) -> None:
    _, result = cli_run
    warnings = result.stderr
    assert "broken_syntax.py: SyntaxError" in warnings
    assert "no_macro.py: it defines no Macro subclass" in warnings
    assert ("real_only.py: ImportError(\"cannot import name 'aNscan' from "
            "'sardana.macroserver.macros.scan': tango-macroserver does not provide it") in warnings
    assert ("real_module.py: ModuleNotFoundError(\"No module named 'sardana.pool.poolmotor' on "
            "this server: tango-macroserver serves sardana.macroserver.macro") in warnings
    assert "bad_param.py: MacroServerError(\"parameter definition ['x']" in warnings


def test_every_example_loads_and_is_run_or_left_out_with_a_reason(tmp_path) -> None:
    """In this process, where the real sardana is imported too: it keeps its own
    modules, and the examples load from ours."""
    import sardana.macroserver.macro as real

    folder = macro_folder(tmp_path)
    config = load_config(str(example_config(tmp_path)))
    core = MacroServerCore(config, Environment(tmp_path / "env.json"),
                           extra_data_roots=[tmp_path], extra_macro_path=[folder],
                           prepare_macro_file=prepare_module)
    assert [p.source for p in core.macros.problems] == [str(folder / "fac_utils.py")]
    assert "a helper module the others import" in core.macros.problems[0].error
    examples = {n for n in core.macros.names()
                if Path(core.macros.get(n).source_file()).parent == folder
                and core.macros.get(n).library() not in ("facility", "marks", "hidden")}
    assert len(examples) >= 60
    assert examples == set(EXAMPLES) | set(QUESTIONS) | set(LEFT_OUT)
    assert sys.modules["sardana.macroserver.macro"] is real
    assert "site-packages" in real.__file__
    ours = core.macros.get("twice")
    assert not issubclass(ours, real.Macro)
    listener = Collect()
    outcome = MacroRunner(core, listener).run("twice 21")
    assert outcome.status is EndStatus.DONE and outcome.result == 42.0
    info = core.macros.get("loop").describe()
    assert info["hints"] == {"allowsHooks": ("pre-move", "post-move", "pre-acq", "post-acq")}
    assert [p["type"] for p in info["parameters"]] == ["Integer", "Integer", "Integer"]
    assert core.macros.get("mfunc1").describe()["type"] == "MacroFunction"
    nested = core.macros.get("pt14").describe()["parameters"][0]
    assert nested["type"][0]["type"][0]["type"] == "Motor"


# -- through Tango, sardana importable -------------------------------------------------------

@pytest.fixture(scope="module")
def server(tango_db, module_device_server, tmp_path_factory) -> Iterator[MacroServerInstance]:
    root = tmp_path_factory.mktemp("ms-sardana-macros")
    folder = macro_folder(root, broken=True)
    config = example_config(root)
    config.write_text(config.read_text().replace("macro_path = []",
                                                 f'macro_path = ["{folder}"]'))
    instance = start_macroserver(module_device_server, tango_db.tango_host, "sdm", root, config)
    instance.set_env({"ActiveMntGrp": "mg_demo"})
    live = LiveDoorEvents([instance.door])  # run_door subscribes, then runs
    yield instance
    live.close()


def run_door(server: MacroServerInstance, line: str, timeout: float = 120
             ) -> tuple[dict[str, Any], list[str], list[str]]:
    """(final MacroStatus, Output and Info lines, Error lines) of one RunMacro."""
    events = Events(server.door, ("Output", "Info", "Error", "MacroStatus"))
    try:
        macro_id = server.proxy().RunMacro([line])[0]
        status = events.wait_end(macro_id, timeout)
        return status, events.lines("Output") + events.lines("Info"), events.lines("Error")
    finally:
        events.close()


@pytest.fixture(scope="module")
def door_runs(server) -> dict[str, tuple[dict[str, Any], list[str], list[str]]]:
    return {name: run_door(server, line) for name, (line, _) in EXAMPLES.items()}


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_example_runs_through_the_door(door_runs, name) -> None:
    status, output, errors = door_runs[name]
    assert status["state"] == "finish", errors
    text = "\n".join(output)
    for expected in EXAMPLES[name][1]:
        assert expected in text, text


def test_a_failing_example_fails_with_its_message(server) -> None:
    status, _, errors = run_door(server, "raise_exception")
    assert status["state"] == "exception"
    assert any("here is your exception!" in e for e in errors)


def test_results_hints_and_load_problems_over_tango(server) -> None:
    ms = server.proxy("ms")
    status, _, _ = run_door(server, "twice 5")
    assert server.proxy().read_attribute("Result").value == ("10.0",)
    info = __import__("json").loads(ms.GetMacroInfo(["fac_align"])[0])
    assert info["hints"] == {"allowsHooks": ["pre-acq"]}
    assert info["parameters"][1]["default_value"] == {"___optional_parameter__": True}
    assert [r["name"] for r in info["result"]] == ["position"]
    assert "no_macro.py: it defines no Macro subclass" in ms.status()
    log = next(server.env_path.parent.glob("macroserver-*.log")).read_text()
    assert "broken_syntax.py" in log and "real_only.py" in log
    _, output, errors = run_door(server, "lsmac")
    assert any("not loaded: " in line and "broken_syntax.py" in line
               for line in [*output, *errors, *_warnings(server, "lsmac")])


def _warnings(server: MacroServerInstance, line: str) -> list[str]:
    events = Events(server.door, ("Warning", "MacroStatus"))
    try:
        events.wait_end(server.proxy().RunMacro([line])[0])
        return events.lines("Warning")
    finally:
        events.close()


def test_stop_reaches_the_macro_and_its_parent(server) -> None:
    events = Events(server.door, ("Output", "MacroStatus"))
    door = server.proxy()
    try:
        macro_id = door.RunMacro(["fac_parent"])[0]
        events.wait_for(lambda ev: any("waiting under fac_parent" in line
                                       for line in ev.lines("Output")), timeout=60)
        door.StopMacro()
        assert events.wait_end(macro_id)["state"] == "stop"
        assert "fac_wait stopped" in events.lines("Output")
        assert "fac_parent saw the stop" in events.lines("Output")
    finally:
        events.close()
        if door.state() == DevState.RUNNING:  # never leave the shared door busy
            door.AbortMacro()


def test_new_and_changed_files_are_picked_up(server) -> None:
    ms = server.proxy("ms")
    folder = server.folder / "macros"
    (folder / "newlib.py").write_text(
        "from sardana.macroserver.macro import macro\n\n@macro()\n"
        "def brand_new(self):\n    self.output('brand new 1')\n")
    assert ms.ReloadMacroLib(["newlib"]) != []
    assert "brand_new" in ms.read_attribute("MacroList").value
    assert "brand new 1" in run_door(server, "brand_new")[1]
    (folder / "newlib.py").write_text(
        "from sardana.macroserver.macro import macro\n\n@macro()\n"
        "def brand_new(self):\n    self.output('brand new 2')\n")
    _, output, _ = run_door(server, "relmaclib newlib")
    assert "newlib reloaded" in output[-1]
    assert "brand new 2" in run_door(server, "brand_new")[1]
    (folder / "newlib.py").write_text((folder / "newlib.py").read_text().replace("2", "3"))
    assert not [p for p in ms.ReloadMacro(["brand_new"]) if "newlib" in p]  # broken_*: kept
    assert "brand new 3" in run_door(server, "brand_new")[1]
    (folder / "newlib.py").write_text((folder / "newlib.py").read_text().replace("3", "4"))
    assert run_door(server, "relmac brand_new")[0]["state"] == "finish"
    assert "brand new 4" in run_door(server, "brand_new")[1]
    (folder / "another.py").write_text(
        "from sardana.macroserver.macro import Macro\n\nclass other_new(Macro):\n"
        "    def run(self):\n        self.output('other')\n")
    assert run_door(server, "addmaclib another")[0]["state"] == "finish"
    assert "other" in run_door(server, "other_new")[1]
    status, _, errors = run_door(server, "addmaclib missing_lib")
    assert status["state"] == "exception" and any("no file missing_lib.py" in e for e in errors)
    path, code, line = ms.GetMacroCode(["fresh_lib", "fresh"])
    assert path == str(folder / "fresh_lib.py")
    assert "from sardana.macroserver.macro import Macro, Type" in code
    assert code.splitlines()[int(line) - 1] == "class fresh(Macro):"
    ms.SetMacroCode([path, code])
    deadline = time.monotonic() + 10
    while "fresh" not in ms.read_attribute("MacroList").value and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "fresh ran" in run_door(server, "fresh")[1]



# -- Sardana's spock, on the same server -----------------------------------------------------

SPOCK_LINES = {  # what spock prints for a few examples: its own parameter parsing
    "pt14 [[[mot01 theta] 3] [[chi] 5]]": [],
    "pt7 mot01 1 theta 3": [],
    "twice 3": ["Result", "6.0"],
    "mfunc3 theta": ["Moveable theta is at", "Executing mfunc1"],
    "call_wm mot01 theta": ["Current"],
    "fac_align chi 0.25": ["aligning chi from", "Result", "0.25"],
    # general hooks, typed in Sardana's spock (its own quoting of the command)
    'defgh "mv mot01 3.25" pre-scan': ["Hook: mv mot01 3.25, hook place: pre-scan has been "
                                       "defined"],
    "lsgh": ["Hook place", "pre-scan", "mv mot01 3.25"],
    "ascan theta 0 1 1 0.01": ["Scan #"],
    "wm mot01": ["Current", "3.25"],  # moved by the hook
    "udefgh all": ["All general hooks have been undefined."],
}


def test_examples_through_sardanas_spock(server, tmp_path_factory) -> None:
    pytest.importorskip("sardana.spock", reason="the sardana-clients extra is not installed")
    from test_sardana_spock import PROMPT, Spock

    spock = Spock(server, tmp_path_factory.mktemp("spock-home"))
    try:
        for line, expected in SPOCK_LINES.items():
            out = spock.run(line, timeout=120)
            assert "Error" not in out and "Traceback" not in out, out
            for text in expected:
                assert text in out, out
        spock.child.sendline("ask_peak")  # a typed question, answered in spock
        spock.child.expect(r"What is the peak current\?")
        spock.child.sendline("2.5")
        spock.child.expect("You selected a peak of 2.500000 A")
        spock.child.expect(PROMPT)
    finally:
        spock.close()


# -- our mspock, on the same server ----------------------------------------------------------

#: A batch of the examples through mspock: parameters (nested repeats, defaults),
#: results, submacros, a macro function, hooked scans, a scan in a loop.
MSPOCK_BATCH = ("pt7", "pt14", "pt14d", "twice", "mainmacro", "runsubs", "mfunc4",
                "hooked_scan", "captain_hook", "ascanr")


def final(events: Events, name: str) -> list[dict[str, Any]]:
    """The final MacroStatus entries of the macros named `name` so far."""
    return [s for s in events.statuses() if s["name"] == name and s["state"] in FINAL_STATES]


def test_examples_through_mspock(server, tmp_path_factory) -> None:
    pytest.importorskip("pexpect")
    from test_mspock import Terminal

    home = tmp_path_factory.mktemp("mspock-examples")
    env = {**os.environ, "MSPOCK_DOOR": server.door, "NO_COLOR": "1", "TERM": "xterm",
           "PROMPT_TOOLKIT_NO_CPR": "1", "MSPOCK_HISTORY": str(home / "history"),
           "MSPOCK_PLOT_DIR": str(home / "plots"), "COLUMNS": "120"}
    shell = Terminal(types.SimpleNamespace(env=lambda: env))
    events = Events(server.door, ("MacroStatus",))
    echoes, ends = [], {}  # where each typed line was accepted; each macro's final state
    try:
        shell.prompt()
        for name in MSPOCK_BATCH:
            line = EXAMPLES[name][0]
            shell.run(line)
            echoes.append(shell.expect(re.escape(line) + " *\n"))  # accepted, not redrawn
            events.wait_for(lambda ev, n=name: bool(final(ev, n)), timeout=120)
            ends[name] = final(events, name)[-1]["state"]
            shell.prompt()
        shell.run("ask_peak")  # a typed question, answered in mspock
        echoes.append(shell.expect("ask_peak *\n"))
        shell.expect(r"What is the peak current\?")
        shell.child.send("2.5\r")
        shell.expect("You selected a peak of 2.500000 A")
        shell.prompt()
        text = shell.text()
    finally:
        events.close()
        shell.close()
    # what mspock showed for a line: from its echo to the next line's
    sections = {name: text[echo.end():after.start()]
                for name, echo, after in zip(MSPOCK_BATCH, echoes, echoes[1:])}
    for name in MSPOCK_BATCH:
        out = sections[name]
        assert ends[name] == "finish", (name, ends[name], out)
        assert "Error" not in out and "Traceback" not in out, (name, out)
        for expected in EXAMPLES[name][1]:
            assert expected in out, (name, out)
    assert "Result: 6.0" in sections["twice"], sections["twice"]
