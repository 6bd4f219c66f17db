"""`macroserver convert IN OUT`: a scan file in another format or shape.

One subcommand, one module per conversion: by default the scans of IN in the format
OUT's extension names (`macroserver.convert`: NeXus <-> SPEC (+EDF, MCA), either -> CSV);
`--consolidate` (consolidate.py) makes a NeXus file self-contained, its linked detector
frames copied in.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from macroserver.cli.exitcodes import EXIT_UNUSABLE
from macroserver.cli.unforeseen import add_debug_option, unforeseen_errors


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "convert", help="convert scans: NeXus <-> SPEC (+EDF, MCA), either -> CSV; "
                        "--consolidate: copy the frames a NeXus file links to into it",
        description="Convert the scans of IN (NeXus/HDF5 or SPEC: ours, Sardana's or other "
                    "programs') into OUT, whose extension picks the format: .h5/.nxs/.hdf5 "
                    "NeXus, .dat/.spec SPEC (+EDF images beside it), .csv (one scan).")
    parser.add_argument("input", type=Path, help="scan file to read")
    parser.add_argument("output", type=Path,
                        help="file to write (refused if it exists, unless --force)")
    parser.add_argument("--scan", type=int, help="convert only this ScanID (#S number)")
    parser.add_argument("--force", action="store_true", help="replace an existing output")
    parser.add_argument("--consolidate", action="store_true",
                        help="a self-contained NeXus copy: linked frames copied in")
    add_debug_option(parser)
    parser.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    with unforeseen_errors(f"cannot convert {args.input} to {args.output}", args.debug):
        if args.consolidate:
            return _consolidate(args)
        from macroserver.convert import convert

        notes = convert(args.input, args.output, args.scan, args.force)
    for note in notes:
        print(note, file=sys.stderr)
    print(f"{args.output} written")
    return 0


def _consolidate(args: argparse.Namespace) -> int:
    if args.scan is not None or args.force:
        print("Error: --consolidate copies the whole file: no --scan or --force",
              file=sys.stderr)
        return EXIT_UNUSABLE
    from macroserver.cli.consolidate import consolidate
    from macroserver.cli.verify import verify

    try:
        missing = [f"{c.where} -> {c.file}: {p}" for c in verify(args.input) for p in c.problems]
        count = consolidate(args.input, args.output)
    except (OSError, FileExistsError) as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return EXIT_UNUSABLE
    for problem in missing:  # copied as the linked view reads them: the fill value
        print(f"Warning: {problem}", file=sys.stderr)
    print(f"{args.output}: written, {count} linked dataset{'s' if count != 1 else ''} "
          "copied in" + (f"; {len(missing)} problems with the sources (above)"
                         if missing else ""))
    return 0
