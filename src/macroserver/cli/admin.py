"""`macroserver`: the server-side command (run macros locally, serve, bring the demo up)."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from typing import Sequence

from macroserver.config import load_config
from macroserver.core import MacroServerCore
from macroserver.env import Environment, default_env_path
from macroserver.errors import MacroServerError
from macroserver.macros.runner import MacroRunner
from macroserver.streams import ConsoleListener


def _run(args: argparse.Namespace) -> int:
    """Run macros in this process, one after the other; stop at the first failure."""
    config = load_config(args.config)
    env = Environment(Path(args.env) if args.env else default_env_path("local"))
    roots = [Path(r) for r in args.data_root]
    if not config.data_roots and not roots:
        roots = [Path.cwd()]
    server = MacroServerCore(config, env, extra_data_roots=roots)
    listener = ConsoleListener(debug=args.debug)
    for problem in server.load_problems:
        print(f"Warning: {problem}", file=sys.stderr)
    runner = MacroRunner(server, listener)
    interrupts = 0

    def on_interrupt(signum: int, frame: object) -> None:
        nonlocal interrupts
        interrupts += 1
        if runner.state.value not in ("RUNNING", "STANDBY"):
            raise KeyboardInterrupt
        if interrupts == 1:
            print("Ctrl-C received: Stopping...", file=sys.stderr)
            runner.stop()
        else:
            print("2nd Ctrl-C received: Aborting...", file=sys.stderr)
            runner.abort()

    signal.signal(signal.SIGINT, on_interrupt)
    for command in args.commands:
        interrupts = 0
        try:
            runner.start(command)
        except MacroServerError as exc:
            print(f"Error: {exc}", file=sys.stderr)
            return 2
        outcome = runner.wait()
        if outcome is None or outcome.state != "finish":
            return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="macroserver", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run macros in this process (no Tango needed)")
    run.add_argument("commands", nargs="+", help='macro command lines, e.g. "ascan theta 0 1 10 0"')
    run.add_argument("--config", default="demo",
                     help='TOML element configuration (default: "demo", the packaged demo)')
    run.add_argument("--env", help="environment file (default: a per-user state folder)")
    run.add_argument("--data-root", action="append", default=[],
                     help="add a folder scan files may be written in (repeatable)")
    run.add_argument("--debug", action="store_true", help="show the Debug stream")
    run.set_defaults(handler=_run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except MacroServerError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
