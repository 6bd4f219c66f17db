"""`macroserver convert IN OUT`: write a scan file in another shape.

One subcommand, one module per conversion: `--consolidate` (consolidate.py) makes a
NeXus file self-contained, its linked detector frames copied in.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def add_parser(commands: Any) -> None:
    parser = commands.add_parser("convert", help="convert a scan file (--consolidate: "
                                 "copy the frames a NeXus file links to into it)")
    parser.add_argument("input", type=Path)
    parser.add_argument("output", type=Path)
    parser.add_argument("--consolidate", action="store_true",
                        help="a self-contained NeXus copy: linked frames copied in")
    parser.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    if not args.consolidate:
        print("Error: say which conversion: --consolidate", file=sys.stderr)
        return 2
    from macroserver.cli.consolidate import consolidate

    try:
        count = consolidate(args.input, args.output)
    except (OSError, FileExistsError) as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    print(f"{args.output}: written, {count} linked dataset{'s' if count != 1 else ''} "
          "copied in")
    return 0
