"""`microsim trace ...`: summary, leaks, object, grep, diff, export."""

from __future__ import annotations

import argparse
import io
import os
import sys
from collections.abc import Sequence
from typing import Any

import orjson

from microsim import zx
from microsim.trace import Filter, cat, load, records
from microsim.trace.analysis import diff, leaks, object_life
from microsim.trace.export import to_perfetto, validate
from microsim.trace.summary import render_text, summarize, table


class Progress:
    """A progress bar on stderr for large traces, only when stderr is a terminal."""

    def __init__(self, path: str) -> None:
        self.total = os.path.getsize(path) if os.path.exists(path) else 0
        self.enabled = sys.stderr.isatty() and self.total > 8 << 20

    def __call__(self, done: int) -> None:
        if self.enabled:
            pct = 100 * done // max(self.total, 1)
            sys.stderr.write(f"\rreading trace: {pct:3d}%")
            sys.stderr.flush()

    def finish(self) -> None:
        """Clear the bar."""
        if self.enabled:
            sys.stderr.write("\r" + " " * 24 + "\r")


def _dump(obj: Any) -> None:
    sys.stdout.write(orjson.dumps(obj, option=orjson.OPT_INDENT_2).decode() + "\n")


def _summary(args: argparse.Namespace) -> int:
    bar = Progress(args.file)
    s = summarize(args.file, progress=bar)
    bar.finish()
    if args.json:
        _dump(s)
    else:
        print(render_text(s))
    return 0


def _leaks(args: argparse.Namespace) -> int:
    found = leaks(args.file)
    if args.json:
        _dump(found)
        return 0
    if found["handles"]:
        print(table(["pid", "handle", "koid", "type", "rights", "created by syscall #"],
                    [[h["pid"], f"{h['handle']:#010x}", h["koid"], h["type"], f"{h['rights']:#x}", h["sc"]]
                     for h in found["handles"]]))
    else:
        print("no handles left open")
    print()
    if found["objects"]:
        print(table(["koid", "type", "created by syscall #"],
                    [[o["koid"], o["type"], o["sc"]] for o in found["objects"]]))
    else:
        print("no objects left alive")
    return 0


def _object(args: argparse.Namespace) -> int:
    life = object_life(args.file, args.koid)
    if not life:
        print(f"koid {args.koid} does not appear in the trace", file=sys.stderr)
        return 1
    if args.json:
        for rec in life:
            sys.stdout.write(orjson.dumps(rec).decode() + "\n")
        return 0
    rows = []
    for rec in life:
        detail = {k: v for k, v in rec.items() if k not in ("kind", "t", "sc", "pid", "tid", "syscall")}
        rows.append([rec["t"], rec.get("sc", 0), rec.get("syscall", ""), rec["pid"], rec["kind"],
                     " ".join(f"{k}={v}" for k, v in detail.items())])
    print(table(["t (ns)", "sc", "syscall", "pid", "event", "details"], rows))
    return 0


def _grep(args: argparse.Namespace) -> int:
    status: Any = args.status
    if status is not None and status.lstrip("-").isdigit():
        status = int(status)
    criteria = {k: v for k, v in dict(pid=args.pid, tid=args.tid, syscall=args.syscall, status=status,
                                      type=args.type, koid=args.koid, kind=args.kind,
                                      since=args.since, until=args.until).items() if v is not None}
    count = 0
    for ev in load(args.file, **criteria):
        count += 1
        if args.json:
            sys.stdout.write(orjson.dumps(ev.to_dict()).decode() + "\n")
        else:
            rest = " ".join(f"{k}={v}" for k, v in ev.fields.items())
            if ev.kind == "syscall":
                rest = f"{ev.fields['name']}({ev.fields.get('args')}) -> {zx.zx_status_get_string(ev.fields['status'])} {ev.fields.get('result')}"
            print(f"{ev.t:>12} #{ev.sc:<6} pid {ev.pid:<6} {ev.kind:<18} {rest}")
    return 0 if count else 1


def _diff(args: argparse.Namespace) -> int:
    d = diff(args.a, args.b)
    if args.json:
        _dump(d)
        return 0 if d is None else 1
    if d is None:
        print("the traces are identical")
        return 0
    print(f"first difference at line {d['line']}:")
    print(f"  {args.a}: {orjson.dumps(d['a']).decode() if d['a'] else '(end of trace)'}")
    print(f"  {args.b}: {orjson.dumps(d['b']).decode() if d['b'] else '(end of trace)'}")
    return 1


def _export(args: argparse.Namespace) -> int:
    doc = to_perfetto(args.file)
    problems = validate(doc)
    if problems:
        raise ValueError("export produced an invalid trace-event document: " + problems[0])
    data = orjson.dumps(doc)
    if args.output in (None, "-"):
        sys.stdout.write(data.decode() + "\n")
    else:
        with open(args.output, "wb") as f:
            f.write(data)
        print(f"wrote {len(doc['traceEvents'])} trace events to {args.output} (open it in ui.perfetto.dev)")
    return 0


def _cat(args: argparse.Namespace) -> int:
    out = sys.stdout.buffer if hasattr(sys.stdout, "buffer") else None
    if out is None:  # a text-only stream (captured output)
        buf = io.BytesIO()
        cat(args.file, buf)
        sys.stdout.write(buf.getvalue().decode())
    else:
        sys.stdout.flush()
        cat(args.file, out)
        out.flush()
    return 0


def add_trace_command(subparsers: Any) -> None:
    """Add `microsim trace ...` to the CLI."""
    p = subparsers.add_parser("trace", help="analyse a trace file")
    sub = p.add_subparsers(dest="trace_command", metavar="SUBCOMMAND", required=True)
    s = sub.add_parser("summary", help="syscalls, objects, peaks, errors")
    s.add_argument("file")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=_summary)
    s = sub.add_parser("leaks", help="handles and objects still alive at the end")
    s.add_argument("file")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=_leaks)
    s = sub.add_parser("object", help="the life of one object")
    s.add_argument("file")
    s.add_argument("koid", type=int)
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=_object)
    s = sub.add_parser("grep", help="events matching filters")
    s.add_argument("file")
    for name in ("pid", "tid", "koid", "since", "until"):
        s.add_argument(f"--{name}", type=int)
    s.add_argument("--syscall", help="glob, e.g. 'vmo_*'")
    s.add_argument("--status", help="code, name, 'error' or 'ok'")
    s.add_argument("--type", help="object type")
    s.add_argument("--kind", help="event kind glob")
    s.add_argument("--json", action="store_true", help="JSON lines")
    s.set_defaults(func=_grep)
    s = sub.add_parser("diff", help="first point where two traces diverge")
    s.add_argument("a")
    s.add_argument("b")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=_diff)
    s = sub.add_parser("export", help="export to another format")
    s.add_argument("file")
    s.add_argument("--format", choices=["perfetto", "chrome"], default="perfetto")
    s.add_argument("-o", "--output")
    s.set_defaults(func=_export)
    s = sub.add_parser("cat", help="every record as a JSON object with named fields, one per line")
    s.add_argument("file")
    s.set_defaults(func=_cat)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m microsim.trace ...` (the same as `microsim trace ...`)."""
    from microsim.cli import main as cli_main

    return cli_main(["trace", *(sys.argv[1:] if argv is None else argv)])


__all__ = ["Filter", "add_trace_command", "main", "records"]
