"""`macroserver catalogue FILE`: a data catalogue's record of each scan, rebuilt from a
NeXus file alone (our sidecar document, ICAT- or SciCat-style)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from macroserver.cli.unforeseen import add_debug_option, unforeseen_errors
from macroserver.convert.catalogue import STYLES, catalogue_records
from macroserver.convert.source import ConvertError
from macroserver.metadata.sidecar import write_json_atomically


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "catalogue", help="a NeXus file's catalogue record (sidecar, ICAT or SciCat style)")
    parser.add_argument("file", type=Path, help="NeXus file written by tango-macroserver")
    parser.add_argument("--scan", type=int, help="only this ScanID")
    parser.add_argument("--style", choices=STYLES, default="sidecar",
                        help="record shape (default: our sidecar document)")
    parser.add_argument("-o", "--output", type=Path,
                        help="write the JSON here (atomically), not to stdout")
    parser.add_argument("--force", action="store_true", help="replace an existing output")
    add_debug_option(parser)
    parser.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    with unforeseen_errors(f"cannot read {args.file}", args.debug):
        records = catalogue_records(args.file, args.scan, args.style)
    document: Any = records[0] if len(records) == 1 else records
    if args.output is None:
        json.dump(document, sys.stdout, indent=1, ensure_ascii=False)
        print()
        return 0
    if args.output.exists() and not args.force:
        raise ConvertError(f"{args.output} exists (use --force to replace it)")
    write_json_atomically(args.output, document)
    return 0
