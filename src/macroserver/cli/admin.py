"""`macroserver`: run macros locally, serve the Tango devices, bring a system or the demo up."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path
from typing import Sequence

from macroserver import sardana_api
from macroserver.cli.exitcodes import (
    EXIT_ERROR,
    EXIT_FOR_STATUS,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_UNUSABLE,
    Parser,
    add_version_option,
    handle_sigint,
    output_closed,
)
from macroserver.config import load_config
from macroserver.engine.core import MacroServerCore
from macroserver.engine.runner import MacroRunner
from macroserver.env import Environment, default_env_path
from macroserver.errors import MacroServerError
from macroserver.logs import DEFAULT_LEVEL, LEVELS
from macroserver.records import EndStatus
from macroserver.statedir import instance_state_dir, user_state_root
from macroserver.streams import ConsoleListener
from macroserver.wire import error_text


def _run(args: argparse.Namespace) -> int:
    """Run macros in this process, one after the other; stop at the first failure."""
    config = load_config(args.config)
    env = Environment(Path(args.env).expanduser().resolve() if args.env
                      else default_env_path("local"))
    roots = [Path(r) for r in args.data_root]
    if not config.data_roots and not roots:
        roots = [Path.cwd()]
    server = MacroServerCore(config, env, extra_data_roots=roots, scan_dir_fallback=True,
                             extra_macro_path=[Path(p) for p in args.macro_path],
                             extra_recorder_path=[Path(p) for p in args.recorder_path],
                             prepare_macro_file=sardana_api.prepare_module)
    listener = ConsoleListener(debug=args.debug)
    for problem in server.load_problems:
        print(f"Warning: {problem}", file=sys.stderr)
    for recovered in server.recover_scan_files("macroserver run"):
        print(f"Warning: {recovered}", file=sys.stderr)
    runner = MacroRunner(server, listener)
    if args.dry_run:
        return _dry_run(runner, args.commands, args.json)
    listener.answer = runner.answer  # a macro's questions are asked on this terminal
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
    try:
        for command in args.commands:
            interrupts = 0
            try:
                runner.start(command)
            except MacroServerError as exc:
                print(f"Error: {exc}", file=sys.stderr)
                return EXIT_ERROR
            outcome = runner.wait()
            if outcome is None:
                return EXIT_ERROR
            if outcome.status is not EndStatus.DONE:
                return EXIT_FOR_STATUS[outcome.status]
        return EXIT_OK
    finally:
        server.sidecars.wait()  # the last scan's catalogue sidecar is written before exit


def _dry_run(runner: MacroRunner, commands: Sequence[str], as_json: bool) -> int:
    """Each command's forecast (nothing runs); exit status 1 when one is refused or bad.
    With `as_json`: one JSON object per command line, on stdout."""
    status = EXIT_OK
    for command in commands:
        try:
            forecast = runner.dry_run(command)
        except MacroServerError as exc:
            status = EXIT_ERROR
            if as_json:
                print(json.dumps({"command": command, "error": str(exc)}), flush=True)
            else:
                print(f"Error: {exc}", file=sys.stderr)
            continue
        if forecast.refused:
            status = EXIT_ERROR
        print(json.dumps(forecast.to_dict(), allow_nan=False) if as_json
              else "\n".join(forecast.lines()), flush=True)
    return status


def _serve(args: argparse.Namespace, extra: list[str]) -> int:
    from macroserver.tango.server import serve

    serve(args.instance, extra, listen=args.listen, log_level=args.log_level)
    return 0


def _db(args: argparse.Namespace) -> int:
    from macroserver.tango.database import EmbeddedDatabase

    with EmbeddedDatabase(args.port, Path(args.dir).expanduser()) as database:
        print(f"Tango database running: TANGO_HOST={database.tango_host} (Ctrl-C stops it)")
        _wait_for_ctrl_c()
    return 0


def _wait_for_ctrl_c() -> None:
    """Block until Ctrl-C or SIGTERM (how Starter, systemd and `kill` stop a process)."""

    def on_term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    try:
        signal.pause()
    except KeyboardInterrupt:
        pass


def _up(args: argparse.Namespace) -> int:
    from macroserver.tango.stack import bring_up

    # --dir holds everything: the database, and the instance's folder with its whole
    # state (by default the per-user folder, where `serve` keeps it too)
    root = Path(args.dir).expanduser().resolve() if args.dir else user_state_root()
    state_dir = instance_state_dir(args.instance, root)
    print(f"state folder of {args.instance}: {state_dir}", flush=True)
    properties = {"Config": [args.config], "ScanDirFallback": ["true"]}
    for name, folders in (("DataRoots", args.data_root), ("MacroPath", args.macro_path),
                          ("RecorderPath", args.recorder_path)):
        if folders:
            properties[name] = [str(Path(f).resolve()) for f in folders]
    stack = bring_up(args.instance, args.port, state_dir, properties, log_level=args.log_level,
                     db_dir=root / "db")
    try:
        for note in stack.notes:
            print(note)
        print(f"export TANGO_HOST={stack.tango_host}")
        print(f"doors: {', '.join(stack.doors)}   (mspock --door {stack.doors[0]})")
        print("Ctrl-C stops what was started here.")
        _wait_for_ctrl_c()
    finally:
        stack.stop()
    return 0


def _demo(args: argparse.Namespace) -> int:
    from macroserver.tango.demo import run_demo

    return run_demo(Path.cwd(), use_tango_host=args.use_tango_host,
                    state_root=Path(args.dir).expanduser() if args.dir else user_state_root())


def _register(args: argparse.Namespace) -> int:
    from macroserver.tango.register import command

    return command(args)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="macroserver", description=__doc__)
    add_version_option(parser)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run macros in this process (no Tango needed)")
    run.add_argument("commands", nargs="+", help='macro command lines, e.g. "ascan theta 0 1 10 0"')
    run.add_argument("--config", default="demo",
                     help='TOML element configuration (default: "demo", the packaged demo)')
    run.add_argument("--env", help="environment file (default: a per-user state folder)")
    run.add_argument("--data-root", action="append", default=[],
                     help="add a folder scan files may be written in (repeatable)")
    _add_plugin_paths(run)
    run.add_argument("--debug", action="store_true", help="show the Debug stream")
    run.add_argument("--dry-run", action="store_true",
                     help="tell what each scan would do (points, paths, limits, files and "
                          "their size, duration) without running it: nothing moves, nothing "
                          "is counted, nothing is written; exit status 1 if one is refused")
    run.add_argument("--json", action="store_true",
                     help="with --dry-run: one JSON object per command line")
    run.set_defaults(handler=_run)

    serve = commands.add_parser("serve", help="run the Tango device server MacroServer/INSTANCE")
    serve.add_argument("instance")
    serve.add_argument("--listen", help="address to accept CORBA calls on (default 127.0.0.1)")
    _add_log_level(serve)
    serve.set_defaults(handler=_serve, passes_extra=True)

    db = commands.add_parser("db", help="run PyTango's embedded Tango database (sqlite3)")
    db.add_argument("--port", type=int, default=10000)
    db.add_argument("--dir", default=str(user_state_root() / "db"),
                    help="folder of the database file")
    db.set_defaults(handler=_db)

    up = commands.add_parser(
        "up", help="database (TANGO_HOST's or an embedded one) + registration + server")
    up.add_argument("--port", type=int, default=10000, help="embedded database port")
    up.add_argument("--instance", default="demo")
    up.add_argument("--config", default="demo", help="TOML element configuration")
    up.add_argument("--data-root", action="append", default=[],
                    help="folder scan files may be written in (repeatable)")
    _add_plugin_paths(up)
    up.add_argument("--dir", help="folder of everything it keeps: the database and "
                    "INSTANCE/ with the instance's environment, metadata and logs (default: "
                    f"{user_state_root()})")
    _add_log_level(up)
    up.set_defaults(handler=_up)

    demo = commands.add_parser(
        "demo", help="bring a demo system up, run ascan theta 0 0.5 5 1 through Tango, stop")
    demo.add_argument("--use-tango-host", action="store_true",
                      help="register and run in the database TANGO_HOST names")
    demo.add_argument("--dir", help="folder of everything it keeps (database, environment, "
                      f"metadata, logs; default: {user_state_root()})")
    demo.set_defaults(handler=_demo)

    register = commands.add_parser(
        "register", help="write the servers into the Tango database TANGO_HOST names")
    register.add_argument("--file", help="dsconfig JSON (default: the packaged template, "
                          "tango_db/macroserver.json)")
    register.add_argument("--instance", help="MacroServer instance name (renames devices "
                          "/OLD/ -> /NAME/, e.g. door/demo/1 -> door/NAME/1)")
    register.add_argument("--property", action="append", default=[], metavar="KEY=VALUE",
                          help="MacroServer device property, e.g. DataRoots=/data/bl01 "
                          "(repeatable; a repeated KEY gives several values)")
    register.add_argument("--doors", type=int, help="number of Door devices")
    register.add_argument("--dry-run", action="store_true",
                          help="show what would change, write nothing")
    register.set_defaults(handler=_register)

    from macroserver.cli import catalogue, convert, verify
    from macroserver.web import add_parser as add_web_parser

    verify.add_parser(commands)
    convert.add_parser(commands)
    catalogue.add_parser(commands)

    add_web_parser(commands)
    return parser


def _add_plugin_paths(parser: argparse.ArgumentParser) -> None:
    """--macro-path and --recorder-path: plug-in folders besides the configuration's, so
    examples/ can be tried without writing a TOML."""
    parser.add_argument("--macro-path", action="append", default=[], metavar="DIR",
                        help="add a folder of macro files (repeatable; Sardana-style files "
                             "too; the MacroPath property)")
    parser.add_argument("--recorder-path", action="append", default=[], metavar="DIR",
                        help="add a folder of recorder files (repeatable; RecorderPath)")


def _add_log_level(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--log-level", default=DEFAULT_LEVEL, choices=LEVELS, type=str.upper,
        help="least level written to the server log, macroserver-<instance>.log beside "
             f"its environment file (default {DEFAULT_LEVEL})")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if args.command != "serve":  # a device server: Tango handles its signals
        handle_sigint()
    if extra and not getattr(args, "passes_extra", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        if getattr(args, "passes_extra", False):
            return args.handler(args, extra)
        return args.handler(args)
    except MacroServerError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return EXIT_UNUSABLE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return output_closed()
    except Exception as exc:
        if not isinstance(exc, (RuntimeError, OSError)) and not _is_dev_failed(exc):
            raise
        print(f"Error: {error_text(exc)}", file=sys.stderr)
        return EXIT_UNUSABLE


def _is_dev_failed(exc: BaseException) -> bool:
    """Tango's DevFailed, recognised without importing tango for `macroserver run`."""
    return any(cls.__name__ == "DevFailed" for cls in type(exc).__mro__)


if __name__ == "__main__":
    sys.exit(main())
