"""The interactive prompt: prompt_toolkit session with the door and its state in the prompt,
completion, a toolbar and history kept across sessions."""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path

from macroserver.cli.commands import builtin_arguments
from macroserver.cli.completion import ShellCompleter
from macroserver.cli.exitcodes import EXIT_OK
from macroserver.cli.shell import Shell
from macroserver.statedir import user_state_root


def state_dir() -> Path:
    """mspock's per-user state folder (XDG_STATE_HOME), where history survives sessions."""
    return user_state_root() / "mspock"


def history_path() -> Path:
    """MSPOCK_HISTORY, or the per-user state folder."""
    override = os.environ.get("MSPOCK_HISTORY")
    return Path(override).expanduser() if override else state_dir() / "history"


def run_prompt(shell: Shell) -> int:
    """Read and run lines until Ctrl-D or exit; the status of the last command."""
    # imported here: -c and stdin runs do not need prompt_toolkit's start-up time
    from prompt_toolkit import PromptSession
    from prompt_toolkit.formatted_text import HTML
    from prompt_toolkit.history import FileHistory
    from prompt_toolkit.patch_stdout import patch_stdout
    from prompt_toolkit.styles import Style

    path = history_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = shell.conn

    def message() -> HTML:
        if not conn.online:
            return HTML(f"<door>{conn.name}</door> <offline>(OFFLINE)</offline> &gt; ")
        return HTML(f"<door>{conn.name}</door> <state>[{conn.state}]</state> &gt; ")

    def toolbar() -> str:
        status = "offline: waiting for the server" if not conn.online else conn.state
        return f" {conn.name}: {status} | Tab completes | help, ascan? | Ctrl-D leaves"

    session: PromptSession = PromptSession(
        message=message, history=FileHistory(str(path)),
        completer=ShellCompleter(conn.catalogue, partial(builtin_arguments, conn.catalogue),
                                 conn.refresh_env),
        complete_while_typing=False, bottom_toolbar=toolbar, refresh_interval=0.5,
        style=Style.from_dict({"door": "ansiblue bold", "state": "ansigreen",
                               "offline": "ansired bold"}),
    )
    conn.on_change = lambda: session.app.invalidate() if session.app.is_running else None
    status = EXIT_OK
    while True:
        try:
            with patch_stdout(raw=True):
                line = session.prompt()
        except KeyboardInterrupt:
            continue
        except EOFError:
            break
        try:
            status = shell.execute(line)
        except EOFError:
            break
        except KeyboardInterrupt:
            shell.console.note("Interrupted.")
    return status
