"""`macroserver web`: a read-only live view of the doors' scans in the browser.

`bridge.Hub` subscribes to the doors (found through TANGO_HOST) and keeps what the page
shows; `server` serves the page, its static files and a server-sent-events stream.
The hub's parts: `tango_events` (finding doors, stateless subscriptions, decoding events),
`door_model` (one door's state and scan, changed by events into messages), `images`
(the newest frame from the NeXus file, as PNG) and `messages` (strict JSON).
See docs/web.md.
"""

from __future__ import annotations

import argparse
from typing import Any

DEFAULT_PORT = 8642


def add_parser(commands: "argparse._SubParsersAction[Any]") -> None:
    """Register the `web` subcommand on the `macroserver` command line."""
    web = commands.add_parser(
        "web", help="read-only live scan view in the browser (doors found through TANGO_HOST)")
    web.add_argument("--host", default="127.0.0.1",
                     help="address to listen on (default 127.0.0.1: this machine only)")
    web.add_argument("--port", type=int, default=DEFAULT_PORT,
                     help=f"TCP port (default {DEFAULT_PORT}; 0 picks a free one)")
    web.add_argument("--door", action="append", default=[],
                     help="show only this door (repeatable; default: every exported Door)")
    web.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                     help="also accept requests for this host name (repeatable; by default "
                          "only loopback names and the --host address, against DNS rebinding)")
    web.add_argument("--verbose", action="store_true", help="log every HTTP request")
    web.set_defaults(handler=_main)


def _main(args: argparse.Namespace) -> int:
    from macroserver.web.server import run

    return run(args.host, args.port, args.door, verbose=args.verbose,
               allowed_hosts=args.allow_host)
