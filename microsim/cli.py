"""The `microsim` command line: `plugins`, `run`, `trace`.

Errors a user can cause (a missing file, a malformed trace, a broken plugin, a program
that raises) print one line and exit non-zero; `--debug` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

import orjson

from microsim import __version__
from microsim.errors import MicrosimError
from microsim.kernel import Kernel
from microsim.runcmd import add_run_command
from microsim.trace.cli import add_trace_command


def _cmd_plugins(args: argparse.Namespace) -> int:
    with Kernel(plugins=args.plugin or None) as kernel:
        records = list(kernel.plugins.values())
        if args.json:
            out = [
                {
                    "name": r.name,
                    "distribution": r.distribution,
                    "requires": list(r.requires),
                    "description": r.description,
                    "object_types": r.object_types,
                    "syscalls": r.syscalls,
                    "info_topics": r.info_topics,
                    "properties": r.properties,
                    "event_kinds": r.event_kinds,
                }
                for r in records
            ]
            sys.stdout.write(orjson.dumps(out, option=orjson.OPT_INDENT_2).decode() + "\n")
            return 0
        for r in records:
            req = f"  (requires {', '.join(r.requires)})" if r.requires else ""
            dist = f" [{r.distribution}]" if r.distribution else ""
            print(f"{r.name}{dist}: {r.description}{req}")
            if r.object_types:
                print(f"  object types: {', '.join(r.object_types)}")
            if r.syscalls:
                print(f"  syscalls:     {', '.join(r.syscalls)}")
            if r.info_topics:
                print(f"  info topics:  {', '.join(r.info_topics)}")
            if r.properties:
                print(f"  properties:   {', '.join(r.properties)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="microsim", description="A simulator of a Zircon-like microkernel."
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    parser.add_argument("--version", action="version", version=f"microsim {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser("plugins", help="list the loaded plugins and what they register")
    p.add_argument("--plugin", action="append", help="load only these plugins (repeatable)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_cmd_plugins)
    add_run_command(sub)
    add_trace_command(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `microsim` console script."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    # Everything after "--" belongs to the simulated program (`microsim run P -- ARGS`).
    program_args: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, program_args = argv[:cut], argv[cut + 1 :]
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # a usage error (2), --help or --version (0)
        return exc.code if isinstance(exc.code, int) else 2
    args.program_args = program_args
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        status = int(args.func(args) or 0)
        sys.stdout.flush()  # a closed pipe shows up here, not at interpreter exit
        return status
    except BrokenPipeError:
        # The reader went away (`microsim ... | head`): end quietly, like other tools.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except (MicrosimError, OSError, ValueError) as exc:
        if args.debug:
            raise
        print(f"microsim: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("microsim: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
