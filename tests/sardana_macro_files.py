"""Macro files for the Sardana macro API tests: Sardana 3.7.1's shipped examples (copied
from the installed sardana, never committed), a facility-style library written as
Sardana's documentation teaches, files that must be reported, and the child-process
set-up that hides the real sardana."""

from __future__ import annotations

import importlib.util
import shutil
import textwrap
from pathlib import Path

from tango_helpers import demo_config


def sardana_examples() -> Path:
    """The examples folder of the installed sardana (found without importing it)."""
    spec = importlib.util.find_spec("sardana")
    assert spec is not None and spec.submodule_search_locations, "sardana is not installed"
    return Path(list(spec.submodule_search_locations)[0]) / "macroserver" / "macros" / "examples"


def copy_examples(folder: Path) -> list[str]:
    """Copy the example files into `folder` (a MacroPath); returns their library names."""
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for path in sorted(sardana_examples().glob("*.py")):
        if not path.name.startswith("_"):
            shutil.copy(path, folder / path.name)
            names.append(path.stem)
    return names


def example_config(folder: Path) -> Path:
    """The demo beamline (small images) with `mot01` first, as in Sardana's demo: the
    examples name it, and `subsubm` scans the first motor from 0 to 100."""
    path = demo_config(folder, image=(8, 8))
    text = path.read_text().replace(
        "[motors.theta]", '[motors.mot01]\nlimits = [-1000.0, 1000.0]\n\n[motors.theta]', 1)
    path.write_text(text)
    return path


# Each runnable example: (command line, lines of output it must give). Sardana's own
# examples print little; the expected lines are what it prints when it did its work.
EXAMPLES: dict[str, tuple[str, list[str]]] = {
    "pt0": ("pt0", []),
    "pt1": ("pt1 1.5", []),
    "pt1d": ("pt1d 1", []),
    "pt2": ("pt2 mot01", []),
    "pt3": ("pt3 [1 34 15]", []),
    "pt3d": ("pt3d 1 34 15", []),
    "pt4": ("pt4 [mot01 theta]", []),
    "pt5": ("pt5 mot01 [1 3]", []),
    "pt6": ("pt6 mot01 1 34 1", []),
    "pt7": ("pt7 [[mot01 1] [theta 3]]", []),
    "pt7d1": ("pt7d1 [[mot01] [theta 3]]", []),
    "pt7d2": ("pt7d2 [[mot01 1] [theta 3]]", []),
    "pt8": ("pt8 mot01 1 theta 3", []),
    "pt9": ("pt9 [[mot01 1] [theta 3]]", []),
    "pt10": ("pt10 [1 3] mot01", []),
    "pt11": ("pt11 value [1 3] mot01", []),
    "pt12": ("pt12 [1 3 4] [mot01 theta]", []),
    "pt13": ("pt13 [[mot01 theta] [chi phi]]", []),
    "pt14": ("pt14 [[[mot01 theta] 3] [[chi] 5]]", []),
    "pt14d": ("pt14d [[[mot01 theta] 3] [[chi] []]]", []),
    "twice": ("twice 3", []),
    "call_wa": ("call_wa", ["mot01", "theta"]),
    "call_wm": ("call_wm mot01 theta", ["Current"]),
    "subsubm": ("subsubm", ["Starting subsubm", "Finished subsubm"]),
    "subm": ("subm", ["Starting subm", "Finished subsubm", "Finished subm"]),
    "mainmacro": ("mainmacro", ["Starting mainmacro", "Finished subm", "Finished mainmacro"]),
    "runsubs": ("runsubs mot01 2", ["Using type 2", "Scan #"]),
    "mfunc1": ("mfunc1", ["Executing mfunc1", "Hello 1"]),
    "mfunc2": ("mfunc2 hello", ["parameter: hello"]),
    "mfunc3": ("mfunc3 theta", ["Moveable theta is at", "Scan #", "Executing mfunc1"]),
    "mfunc4": ("mfunc4 1 2 3", ["parameters (['1', '2', '3'],)"]),
    "mfunc5": ("mfunc5 a", ["parameters (['a'],)"]),
    "move": ("move theta 1", ["Motor ended at  1"]),
    "loop": ("loop 1 3", ["Starting loop", "At step 1", "At step 2", "Finished loop"]),
    "captain_hook": ("captain_hook 1 3", ["At step 2", "running hook with hints=['pre-acq']",
                                          "\thook execution"]),
    "captain_hook2": ("captain_hook2 1 3", ["At step 1", "theta"]),
    "hooked_scan": ("hooked_scan theta 0 1 2 0.01", ["\thook4 execution", "Scan #",
                                                     "\thook1 execution", "\thook6 execution",
                                                     "\thook5 execution"]),
    "hooked_scan_with_macro": ("hooked_scan_with_macro theta 0 1 1 0.01 lsm [pre-scan]",
                               ["Scan #"]),
    "ascan_demo": ("ascan_demo theta 0 1 2 0.01", ["Scan #", "theta"]),
    "ascanr": ("ascanr theta 0 1 2 0.01 2", ["repetition", "Scan #"]),
    "toothedtriangle": ("toothedtriangle theta 0 1 2 0.01 1 2", ["cycle", "interval",
                                                                  "sample", "Scan #"]),
    "a2scan_mod": ("a2scan_mod theta 0 1 4 chi 0 1 2 0.01", ["chi", "Scan #"]),
    "ascanc_demo": ("ascanc_demo theta 0 0.5 0.05", ["Scan #"]),
    "acq_meas_async": ("acq_meas_async mg_demo 0.05", ["starting acquisition for: 0.05",
                                                       "state: ", "acquired values: {"]),
    "acq_expchannel_async": ("acq_expchannel_async value 0.05", ["acquired value: "]),
    "acq_expchannel": ("acq_expchannel value 0.05", ["acquired value: "]),
    "move_async": ("move_async mot01 2", ["initial position: ", "final position: [2.0]"]),
    "J0_plot": ("J0_plot", []),
    "random_image": ("random_image", []),
    "mandelbrot": ("mandelbrot 5 10", []),
}

# Interactive examples: run through `macroserver run`, answered on its standard input.
QUESTIONS: dict[str, tuple[str, list[str], list[str]]] = {
    "ask_number_of_points": ("ask_number_of_points", ["3", "4"], ["Points: 3"]),
    "ask_for_moveable": ("ask_for_moveable", ["theta"], ["You selected theta which is at"]),
    "ask_for_car_brand": ("ask_for_car_brand", ["Mazda"], ["You selected Mazda"]),
    "ask_for_multiple_car_brands": ("ask_for_multiple_car_brands", ["Mazda Renault"],
                                    ["You selected Mazda, Renault"]),
    "ask_peak": ("ask_peak", ["1.5"], ["You selected a peak of 1.500000 A"]),
    "ask_peak_v2": ("ask_peak_v2", [""], ["You selected a peak of 123.400000 mA"]),
    "ask_peak_v3": ("ask_peak_v3", ["150"], ["You selected a peak of 150.000000 mA"]),
    "ask_peak_v4": ("ask_peak_v4", [""], ["You selected a peak of 123.400000 mA"]),
    "ask_peak_v5": ("ask_peak_v5", ["7"], ["You selected a peak of 7.000000 mA"]),
}

# Examples not run here, and why (they load: test_every_example_loads).
LEFT_OUT = {
    "raise_exception": "fails on purpose: test_a_failing_example_fails_with_its_message",
    "get_data": "reads the scan's record list (dscan.data): our scans stream their points "
                "to the recorders and keep none (read the file or the JSON stream)",
    "hooked_dummyscan": "runs dummyscan, which Sardana 3.7.1 ships only with its tests",
    **dict.fromkeys(["ascan_with_addcustomdata", "ascanct_midtrigger"],
                    "reads the scan back from memory (data.records) and writes through "
                    "Sardana's data handler (addCustomData): our scans keep no points"),
    "xas_acq": "needs Sardana instruments (getElementsWithInterface('Instrument')) and its "
               "own environment (MonochromatorEnergy, xasMntGrp)",
}

# A facility's library, written the way Sardana's documentation teaches.
FACILITY = textwrap.dedent('''
    """Beamline macros (written against Sardana's macro API)."""

    import sys

    import fac_utils
    from sardana.macroserver.macro import (Hookable, List, Macro, Optional, ParamRepeat, Table,
                                           Type, macro)
    from sardana.macroserver.macros.scan import UNCONSTRAINED, getCallable
    from sardana.macroserver.msexception import StopException, UnknownEnv
    from sardana.macroserver.scan.gscan import ScanException
    from sardana.macroserver.scan.scandata import MoveableDesc
    from sardana.sardanautils import py2_round


    @macro([["integ_time", Type.Float, 0.1, "count time"]])
    def fac_count(self, integ_time):
        """Count once with the active measurement group."""
        self.execMacro("ct", integ_time)
        self.output("counted %g s", integ_time)


    @macro()
    def fac_where(self):
        """Say whose Macro class this is."""
        self.output("real sardana imported: %s", "sardana" in sys.modules
                    and hasattr(sys.modules["sardana"], "__version__"))
        self.output("macro base: %s", Macro.__module__)
        self.output("helper says %s", fac_utils.label(self))


    class fac_list(Macro):
        """Where motors are (the old ParamRepeat form, string types)."""

        param_def = [["motors", ParamRepeat(["motor", "Moveable", None, "motor"], min=1),
                      None, "motors to show"],
                     ["digits", "Integer", 2, "digits after the point"]]

        def prepare(self, motors, digits, **opts):
            self.shown = [m.getName() for m in motors]

        def run(self, motors, digits):
            for motor in motors:
                self.output("%s at %.*f", motor.getName(), digits, motor.getPosition())
            self.output("shown %s", self.shown)


    @macro([["motor", Type.Motor, "theta", "motor (default: theta)"]])
    def fac_default(self, motor):
        """An element parameter with a default named by the element."""
        self.output("default %s at %s", motor.getName(), motor.getPosition())


    @macro()
    def fac_hook(self):
        """A general hook (defgh): reads the scan it runs in, as facility hooks do."""
        parent = self.getParentMacro()
        if parent:
            self.output("hook in %s over %s for %s s", parent._name,
                        [m.name for m in parent.motors], parent.integ_time)


    class fac_align(Macro, Hookable):
        """Scan a motor, then park it; counts its runs in the environment."""

        param_def = [["motor", Type.Motor, None, "motor to align"],
                     ["park", Type.Float, Optional, "where to park (default 0.5)"]]
        result_def = [["position", Type.Float, None, "where the motor ended"]]
        env = ("ActiveMntGrp",)
        hints = {"allowsHooks": ("pre-acq",)}

        def prepare(self, motor, park):
            self.park = 0.5 if park is None else park

        def pre_acq(self):
            self.hooked = getattr(self, "hooked", 0) + 1

        def run(self, motor, park):
            try:
                runs = self.getEnv("FacAlignRuns")
            except UnknownEnv:
                runs = 0
            self.setEnv("FacAlignRuns", runs + 1)
            same = self.getMotor(motor.getName())
            self.output("aligning %s from %s (run %d)", same.getName(), same.getPosition(),
                        runs + 1)
            scan, _ = self.createMacro("ascan", motor, 0, 1, 2, 0.01)
            scan.hooks = [(self.pre_acq, ["pre-acq"])]
            self.runMacro(scan)
            self.mv(motor, self.park)
            return motor.getPosition()


    class fac_api(Macro):
        """Exercise the members facility libraries call most."""

        def run(self):
            doubled = self.execMacro("twice", 4).getResult()
            self.output("twice gave %s", doubled)
            self.setEnv("Greeting", "global")
            self.setEnv("fac_api.Greeting", "scoped")
            self.output("greeting %s / %s", self.getEnv("Greeting"),
                        self.getGlobalEnv("Greeting"))
            self.unsetEnv(["Greeting", "fac_api.Greeting"])
            try:
                self.getEnv("Greeting")
            except UnknownEnv:
                self.output("Greeting is gone")
            self.output("objects %s", [o.getName() for o in self.getObjs("th.*")])
            self.output("group channels %s", self.getObj("mg_demo").getChannelNames())
            self.output("has ascan %s", "ascan" in self.getMacroNames())
            self.output("helpers %s %s %s", py2_round(2.5), getCallable(UNCONSTRAINED)(0, 1),
                        issubclass(ScanException, Exception) and MoveableDesc is not None)
            self.output("library %s", sorted(self.getMacroLibrary("facility"))[:2])
            table = List(["motor", "position"])
            table.appendRow(["theta", 0.25])
            for line in table.genOutput():
                self.output(line)
            for line in Table([[1, 2], [3, 4]], col_head_str=["left", "right"]).genOutput():
                self.output(line)
            self.setViewOption("ShowDial", False)
            self.output("ShowDial %s", self.getViewOption("ShowDial"))
            motion = self.getMotion(["theta", "chi"])
            motion.move([0.25, 0.5])
            self.output("motion at %s", motion.readPosition())
            self.mv("theta", 0)
            self.checkPoint()


    class fac_wait(Macro):
        """Wait at checkpoints until stopped."""

        def on_stop(self):
            self.output("fac_wait stopped")

        def run(self):
            parent = self.getParentMacro()
            self.output("waiting under %s", parent.getName() if parent else "nobody")
            while True:
                self.checkPoint()
                self.context.control.sleep(0.05)


    class fac_parent(Macro):
        """Run fac_wait; a stop reaches both."""

        def run(self):
            try:
                self.fac_wait()
            except StopException:
                self.output("fac_parent saw the stop")
                raise
''')

# Hidden macros (`_name`): registered and callable, left out of lists, as in Sardana 3.7.1
# (DESY's wg calls Sardana's own hidden _wm this way).
HIDDEN = textwrap.dedent('''
    from sardana.macroserver.macro import Macro, Type, macro


    class _fac_where(Macro):
        """A hidden helper."""

        param_def = [["motor", Type.Moveable, None, "the motor"]]

        def run(self, motor):
            self.output("hidden helper sees %s", motor.getName())


    @macro([["motor", Type.Moveable, None, "the motor"]])
    def fac_wg(self, motor):
        """Where a motor is, through hidden macros."""
        self._fac_where(motor)
        self.execMacro("_wm", [motor])
        self.output("names have _wm %s", "_wm" in self.getMacroNames())
''')

# A helper module beside the library (no macros), imported by it.
FACILITY_UTILS = textwrap.dedent('''
    """Helpers of the beamline's macros."""

    from sardana.macroserver.macro import Type


    def label(macro):
        return f"{macro.getName()} ({Type.Float.name})"
''')

MARK = textwrap.dedent('''
    from sardana.macroserver.macro import Type, macro


    @macro([["text", Type.String, None, "what to mark"]])
    def mark(self, text):
        """A line that separates the examples' outputs in one run."""
        self.output("=== %s", text)
''')

# Files that must be reported, never a silent zero.
BROKEN = {
    "broken_syntax.py": "def oops(:\n",
    "no_macro.py": "HELPER = 1\n\ndef helper():\n    return HELPER\n",
    "real_only.py": "from sardana.macroserver.macros.scan import aNscan\n",
    "real_module.py": "from sardana.pool.poolmotor import PoolMotor\n",
    "bad_param.py": ("from sardana.macroserver.macro import Macro\n\n"
                     "class bad_param(Macro):\n    param_def = [['x']]\n"
                     "    def run(self, x):\n        pass\n"),
}

# sitecustomize for a child process in which the real sardana cannot be imported, as on a
# server where it is not installed (nothing is uninstalled).
HIDE_SARDANA = textwrap.dedent('''
    import sys


    class HideSardana:
        def find_spec(self, name, path=None, target=None):
            if name == "sardana" or name.startswith("sardana."):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None


    sys.meta_path.insert(0, HideSardana())
''')
