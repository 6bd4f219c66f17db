"""Running macros one at a time on a door, in a worker thread.

`start` parses and checks the command in the caller's thread (so bad input is refused
at once, before anything moves) and returns the macro id while the macro runs in the
door's worker. The worker is one thread per door, kept: `start` only hands the macro
over (starting a thread waits for it to run, 0.4-23 ms on a loaded machine, in front of
RunMacro's return). A door starts it when it starts (`start_worker`), so not even its
first macro waits for it. A macro that raises
anything, even SystemExit, ends failed; the worker outlives it. Stop, abort, pause and
resume reach the macro through `MacroControl`.
Messages, status, result and record packets reach the caller through one listener.
"""

from __future__ import annotations

import enum
import logging
import queue
import threading
import traceback
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from macroserver.elements.base import ElementError
from macroserver.engine.control import MacroControl, MacroInterrupted
from macroserver.engine.core import MacroServerCore
from macroserver.engine.dryrun import dry_run
from macroserver.engine.environment import EnvView
from macroserver.engine.forecast import ScanForecast
from macroserver.engine.macrolog import LoggingListener, macro_log
from macroserver.errors import MacroBusy, MacroServerError, WrongState
from macroserver.records import EndStatus
from macroserver.streams import Level, MacroListener

log = logging.getLogger(__name__)


class DoorState(enum.StrEnum):
    """Sardana's door states, as Tango state names."""

    ON = "ON"  # idle, or the last macro finished, stopped or aborted
    RUNNING = "RUNNING"
    STANDBY = "STANDBY"  # paused
    ALARM = "ALARM"  # the last macro failed


@dataclass
class Outcome:
    """How the last macro ended (with the error when it failed) and what it returned."""

    macro_id: str
    command: str
    status: EndStatus = EndStatus.DONE
    error: str = ""
    result: Any = None

    @property
    def state(self) -> str:
        """Sardana's word for the end, as the final MacroStatus carries it (finish, stop...)."""
        return self.status.macro_state


def _result_strings(result: Any) -> list[str]:
    if result is None:
        return []
    if isinstance(result, (list, tuple)):
        return [str(v) for v in result]
    return [str(result)]


class MacroRunner:
    """One door's macro executor."""

    def __init__(
        self,
        server: MacroServerCore,
        listener: MacroListener,
        door_name: str = "local",
        on_state: Callable[[DoorState, str], None] | None = None,
    ) -> None:
        self.server = server
        self.listener = listener
        self.door_name = door_name
        self._on_state = on_state or (lambda state, status: None)
        self._lock = threading.Lock()
        self._state = DoorState.ON
        self._status = "idle"
        self._control: MacroControl | None = None
        self._jobs: queue.SimpleQueue[tuple[Any, list[Any], threading.Event] | None] = \
            queue.SimpleQueue()
        self._worker: threading.Thread | None = None
        self._done: threading.Event | None = None  # set when the last macro handed over ended
        self.last: Outcome | None = None

    @property
    def state(self) -> DoorState:
        return self._state

    @property
    def status(self) -> str:
        return self._status

    def _set_state(self, state: DoorState, status: str) -> None:
        self._state, self._status = state, status
        self._on_state(state, status)

    def start(self, command: str | Sequence[str], macro_id: str | None = None) -> str:
        """Check `command` and start it in the worker; returns the macro id (the
        client's `macro_id` when it gave one, as Sardana's clients do in their XML)."""
        with self._lock:
            if self._state in (DoorState.RUNNING, DoorState.STANDBY):
                raise MacroBusy(
                    f"a macro is already running on {self.door_name} ({self._status}); "
                    "stop it or wait for it to end")
            cls, values, line = self.server.parse(command)
            control = MacroControl(on_pause=self._paused)
            logged = macro_log(self.server, EnvView(self.server.env, self.door_name, cls.name),
                               self.door_name, self.listener)
            context = self.server.new_context(logged or self.listener, control,
                                              self.door_name, line, macro_id)
            macro = cls(context)
            macro.arguments = values
            macro.attach_general_hooks()
            self._control = control
            self._set_state(DoorState.RUNNING, f"running {line}")
            self._done = threading.Event()
            self._jobs.put((macro, values, self._done))
            self.start_worker()
            return context.macro_id

    def start_worker(self) -> None:
        """Start the worker unless it runs (`start` does it when nobody did before)."""
        if self._worker is None or not self._worker.is_alive():
            self._worker = threading.Thread(target=self._work,
                                            name=f"door-{self.door_name}", daemon=True)
            self._worker.start()

    def _work(self) -> None:
        """The door's worker: runs the macros handed over, one after the other, for as
        long as the process lives."""
        while (job := self._jobs.get()) is not None:
            macro, values, done = job
            try:
                self._execute(macro, values)
            except BaseException:  # noqa: BLE001  the door must outlive any macro
                log.critical("%s: the door's worker failed after %s", self.door_name,
                             macro.context.command, exc_info=True)
                self._end_lost(macro)
            finally:
                done.set()

    def close(self) -> None:
        """End the worker once the macro it runs, if any, has ended (the door is deleted)."""
        if self._worker is not None:
            self._jobs.put(None)
            self._worker = None

    def _end_lost(self, macro: Any) -> None:
        """The door idle (ALARM) again when its worker failed outside the macro (a
        listener that raised): the next RunMacro is accepted."""
        ctx = macro.context
        status = f"{ctx.command}: exception (the door's worker failed; see the server log)"
        self.server.reservations.release(self.door_name)
        with self._lock:
            if self._control is None:  # the end went out before the failure
                return
            self._state, self._status, self._control = DoorState.ALARM, status, None
        self.last = Outcome(ctx.macro_id, ctx.command, EndStatus.FAILED,
                            "the door's worker failed")
        try:
            self._on_state(DoorState.ALARM, status)
        except Exception:  # noqa: BLE001  already logged once; keep the worker
            log.exception("%s: door state not sent", self.door_name)

    def dry_run(self, command: str | Sequence[str]) -> ScanForecast:
        """What the scan of `command` would do (`engine/dryrun.py`), in the caller's
        thread; allowed while a macro runs (it takes no element and no state)."""
        return dry_run(self.server, command, self.door_name)

    def _status_event(self, macro: Any, state: str, **extra: Any) -> None:
        ctx = macro.context
        self.listener.status({"id": ctx.macro_id, "name": macro.name, "state": state,
                              "range": [0.0, 100.0], "step": ctx.step,
                              "macro_line": ctx.command, **extra})

    def _execute(self, macro: Any, values: list[Any]) -> None:
        ctx = macro.context
        log.info("%s: %s started (macro id %s)", self.door_name, ctx.command, ctx.macro_id)
        self._status_event(macro, "start")
        outcome = Outcome(ctx.macro_id, ctx.command)
        stack: list[str] = []  # what went wrong, for Sardana's `www` (exc_stack)
        try:
            outcome.result = macro.perform(*values)
            results = _result_strings(outcome.result)
            if results:
                ctx.listener.result(results)
        except MacroInterrupted as exc:
            outcome.status = exc.status
            ctx.listener.message(Level.WARNING, f"{ctx.command}: {exc}")
        except MacroServerError as exc:
            outcome.status, outcome.error = EndStatus.FAILED, str(exc)
            stack = [f"{type(exc).__name__}: {exc}\n"]
            ctx.listener.message(Level.ERROR, f"Error: {exc}")
        except BaseException as exc:  # noqa: BLE001  even SystemExit ends only the macro
            outcome.status = EndStatus.FAILED
            outcome.error = f"{type(exc).__name__}: {exc}"
            ctx.listener.message(Level.ERROR, f"Error: {outcome.error}")
            stack = traceback.format_exception(exc)
            ctx.listener.message(Level.DEBUG, "".join(stack))
            log.error("%s: %s failed", self.door_name, ctx.command, exc_info=True)
        log.log(logging.ERROR if outcome.status is EndStatus.FAILED else logging.INFO,
                "%s: %s ended: %s%s (macro id %s)", self.door_name, ctx.command, outcome.state,
                f" ({outcome.error})" if outcome.error else "", ctx.macro_id)
        if isinstance(ctx.listener, LoggingListener):
            ctx.listener.close()
        self.server.reservations.release(self.door_name)
        self._keep_positions()
        self.last = outcome
        # The door is idle again (a client starting the next macro when it sees the final
        # status is accepted), and the final status goes out before the ON/ALARM state, as
        # Sardana's clients expect (they read the final status once the state is ON). Both
        # under the lock, so the next macro's RUNNING cannot come in between.
        failed = outcome.status is EndStatus.FAILED
        state = DoorState.ALARM if failed else DoorState.ON
        status = f"{ctx.command}: {outcome.state}" + (
            f" ({outcome.error})" if failed else "")
        extra = {"exc_type": stack[-1].split(":")[0], "exc_value": outcome.error,
                 "exc_stack": stack} if stack else {}
        if outcome.status is EndStatus.DONE:
            ctx.step = 100.0
        with self._lock:
            self._state, self._status, self._control = state, status, None
            self._status_event(macro, outcome.state, **extra)
            self._on_state(state, status)

    def _keep_positions(self) -> None:
        """Store where the motors rest now, so a restart finds them there; a failed
        write is reported, the macro's outcome stays what it was."""
        try:
            self.server.pool.keep_positions()
        except (OSError, MacroServerError, ElementError) as exc:
            self.listener.message(Level.WARNING, f"motor positions not kept: {exc}")
            log.warning("%s: motor positions not kept: %s", self.door_name, exc)

    def _paused(self, paused: bool) -> None:
        if paused:
            self._set_state(DoorState.STANDBY, "paused")
        else:
            self._set_state(DoorState.RUNNING, "running")

    def _require_running(self, action: str) -> MacroControl:
        control = self._control
        if control is None:
            raise WrongState(f"cannot {action}: no macro is running on {self.door_name}")
        return control

    def answer(self, answer: Any) -> None:
        """A client's answer to the running macro's question (`Macro.input`)."""
        self._require_running("answer").answer(answer)

    def stop(self) -> None:
        self._require_running("stop").request_stop()

    def abort(self) -> None:
        self._require_running("abort").request_abort()

    def pause(self) -> None:
        control = self._require_running("pause")
        if control.paused:
            raise WrongState(f"cannot pause: the macro on {self.door_name} is already paused")
        control.request_pause()

    def resume(self) -> None:
        control = self._require_running("resume")
        if not control.paused:
            raise WrongState(f"cannot resume: the macro on {self.door_name} is not paused")
        control.request_resume()

    def wait(self, timeout: float | None = None) -> Outcome | None:
        """Wait for the running macro to end; returns its outcome (None on timeout)."""
        done = self._done
        if done is not None and not done.wait(timeout):
            return None
        return self.last

    def run(self, command: str | Sequence[str]) -> Outcome:
        """Start `command` and wait for it (the local runner's way)."""
        self.start(command)
        outcome = self.wait()
        assert outcome is not None
        return outcome
