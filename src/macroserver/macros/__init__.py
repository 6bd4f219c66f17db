"""What a macro author imports: the `Macro` base class and the typed parameters.

    from macroserver.macros import FLOAT, MOTOR, Macro, Param

The standard macros (`macroserver.macros.std`) are written against the same names, and
so is the Sardana dialect (`macroserver.sardana_api`): the exceptions a stop or abort
raises, the errors, the elements' protocols and the look-ups below are part of the API.
"""

from macroserver.elements.base import Channel, ElementError, MeasurementGroup, Motor
from macroserver.engine.control import AbortRequested, MacroInterrupted, StopRequested
from macroserver.engine.ctscan import ContinuousScan, CtRow
from macroserver.engine.environment import EnvView
from macroserver.engine.hooks import (
    BODY,
    CONTINUOUS_SCAN_PLACES,
    COUNT_PLACES,
    MOVE_PLACES,
    NO_PLACE,
    POST_ACQ,
    POST_MOVE,
    POST_NEWFILE,
    POST_SCAN,
    POST_STEP,
    PRE_ACQ,
    PRE_MOVE,
    PRE_SCAN,
    STEP_SCAN_PLACES,
    TIME_SCAN_PLACES,
    HookError,
    run_hooks,
)
from macroserver.engine.macro import Macro, MacroContext, MacroHook
from macroserver.engine.motion_profile import plan_motion
from macroserver.engine.params import (
    BOOLEAN,
    CHANNEL,
    COUNTABLE,
    ENV_NAME,
    FLOAT,
    INTEGER,
    LITERAL,
    MACRO_NAME,
    MEASUREMENT_GROUP,
    MOTOR,
    PARAM_TYPES,
    REQUIRED,
    STRING,
    Param,
    ParamDef,
    ParamType,
    Repeat,
)
from macroserver.engine.scan import (
    PROGRESS_INTERVAL,
    PlanStep,
    ScanPlan,
    StepHooks,
    StepScan,
    active_measurement_group,
)
from macroserver.errors import (
    EnvError,
    MacroServerError,
    MissingParam,
    ParamError,
    UnknownElement,
    UnknownMacro,
)
from macroserver.records import Column, Role

__all__ = [
    "BOOLEAN", "CHANNEL", "COUNTABLE", "ENV_NAME", "FLOAT", "INTEGER", "LITERAL", "MACRO_NAME",
    "MEASUREMENT_GROUP", "MOTOR", "PARAM_TYPES", "REQUIRED", "STRING",
    "AbortRequested", "Channel", "ElementError", "EnvError", "EnvView", "Macro", "MacroContext",
    "MacroInterrupted", "MacroServerError", "MeasurementGroup", "MissingParam", "Motor",
    "Param", "ParamDef", "ParamError", "ParamType", "Repeat", "StopRequested",
    "UnknownElement", "UnknownMacro", "active_measurement_group",
    "CONTINUOUS_SCAN_PLACES", "COUNT_PLACES", "NO_PLACE", "STEP_SCAN_PLACES",
    "TIME_SCAN_PLACES", "PRE_SCAN", "PRE_MOVE", "POST_MOVE", "PRE_ACQ", "POST_ACQ",
    "POST_STEP", "POST_SCAN", "BODY", "MOVE_PLACES", "POST_NEWFILE", "HookError",
    "MacroHook", "run_hooks",
    "Column", "ContinuousScan", "CtRow", "PlanStep", "Role", "ScanPlan", "StepHooks",
    "StepScan", "plan_motion", "PROGRESS_INTERVAL",
]
