"""`microsim trace ...`: summary, cat, leaks, object, grep, diff, export, sql, sqlite.

Every subcommand reads through `analysis.scan`, so bad input is treated the same way
everywhere: an unreadable, empty, unknown-version or malformed trace prints one line
(`microsim: error: ...`, naming the line) and exits with status 2; a truncated trace
(no `trace_end`) prints a warning and the partial results. `--json` on every subcommand.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from microsim import zx
from microsim.trace import Filter, TraceError
from microsim.trace.analysis import (
    Names,
    TraceInfo,
    diff,
    event_str,
    handle_str,
    leaks,
    object_fields,
    object_life,
    rights_str,
    scan,
    status_str,
    syscall_str,
    time_str,
)
from microsim.trace.export import to_perfetto, validate
from microsim.trace.fxt import write_fxt
from microsim.trace.sql import SqlError, load_sqlite, query
from microsim.trace.summary import render_text, summarize, table

EXIT_BAD_INPUT = 2


def _dump(obj: Any) -> None:
    sys.stdout.write(orjson.dumps(obj, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode() + "\n")


def _warn(info: TraceInfo) -> None:
    for w in info.warnings:
        print(f"microsim: warning: {w}", file=sys.stderr)


def _summary(args: argparse.Namespace, info: TraceInfo) -> int:
    s = summarize(args.file, info=info)
    if args.json:
        _dump(s)
    else:
        print(render_text(s))
    return 0


def _leaks(args: argparse.Namespace, info: TraceInfo) -> int:
    found = leaks(args.file, info)
    if args.json:
        _dump(found)
        return 0
    hs = found["handles"]
    if hs:
        print(f"{len(hs)} handle(s) leaked (still held when their process ended, or at the end):")
        print(table(["process", "handle", "object", "rights", "created by", "closed by"],
                    [[h["process"], handle_str(h["handle"]), h["object"], rights_str(h["rights"], h["type"]),
                      f"#{h['sc']} {h['created_by']}" if h["created_by"] else h["reason"], h["closed"]]
                     for h in hs]))
    else:
        print("no handles leaked: every handle was closed by the program")
    print(f"handles closed by the program: {found['closed_by_program']}, "
          f"by process exit: {found['closed_by_exit']}")
    print()
    if found["objects"]:
        print(f"{len(found['objects'])} object(s) alive at the end:")
        print(table(["object", "created by"],
                    [[o["object"], f"#{o['sc']} {o['created_by']}" if o["created_by"] else "-"]
                     for o in found["objects"]]))
    else:
        print("no objects alive at the end")
    ends = [p for p in found["processes"] if p.get("reason")]
    if ends:
        print()
        print(table(["process", "exit code", "why"],
                    [[Names().process(p["pid"]) if not p.get("name") else f"{p['name']} [{p['pid']}]",
                      p["code"], p["reason"]] for p in ends]))
    return 0


def _object(args: argparse.Namespace, info: TraceInfo) -> int:
    life = object_life(args.file, args.koid, info)
    if not life:
        print(f"microsim: koid {args.koid} does not appear in the trace", file=sys.stderr)
        return 1
    if args.json:
        _dump(life)
        return 0
    names = Names()
    for _, rec in scan(args.file):
        names.see(rec)
    print(names.object(args.koid))
    rows = []
    for rec in life:
        rows.append([time_str(rec["t"]), rec["sc"] or "", rec.get("syscall", ""), names.thread(rec["tid"])
                     if rec["tid"] else names.process(rec["pid"]), rec["kind"], event_str(rec, names)])
    print(table(["t", "sc", "syscall", "by", "event", "details"], rows))
    return 0


def _status_matches(want: str, status: int | None) -> bool:
    if want in ("did-not-return", "unreturned", "none", "null"):
        return status is None
    if status is None:
        return False
    if want == "ok":
        return status == 0
    if want == "error":
        return status != 0
    if want.lstrip("-").isdigit():
        return status == int(want)
    return zx.zx_status_get_string(status) == want


def _grep(args: argparse.Namespace, info: TraceInfo) -> int:
    flt = Filter(pid=args.pid, tid=args.tid, syscall=args.syscall, type=args.type, kind=args.kind,
                 since=args.since, until=args.until)
    names = Names()
    objs: dict[str, tuple[str, ...]] | None = None
    count = 0
    for _, rec in scan(args.file, info):
        names.see(rec)
        if rec["kind"] == "trace_kinds":
            objs = None  # kinds declared late: their koid fields too
        if not flt.matches(rec):
            continue
        if args.status is not None and (rec["kind"] != "syscall" or not _status_matches(args.status, rec["status"])):
            continue
        if args.koid is not None:
            if objs is None:
                objs = object_fields(info)
            if not any(rec.get(f) == args.koid for f in objs.get(rec["kind"], ("koid",))):
                continue
        count += 1
        if args.json:
            sys.stdout.write(orjson.dumps(rec).decode() + "\n")
        else:
            who = names.thread(rec["tid"]) if rec["tid"] else names.process(rec["pid"])
            print(f"{time_str(rec['t']):>10}  #{rec['sc']:<5} {who:<28} {rec['kind']:<16} {event_str(rec, names)}")
    return 0 if count else 1


def _render_call(rec: dict[str, Any] | None) -> str:
    if rec is None:
        return "(none)"
    if rec["kind"] == "thread_state":
        return f"thread exit: {rec.get('detail') or 'returned'}"
    if rec["kind"] == "process_exit":
        return f"process exit: code {rec['code']} ({rec.get('reason', 'exit')})"
    if rec["kind"] != "syscall":
        return orjson.dumps(rec).decode()
    return syscall_str(rec)


def _diff(args: argparse.Namespace, info: TraceInfo) -> int:
    d = diff(args.a, args.b, ignore=args.ignore or (), info=info, compare_time=args.compare_time)
    if args.json:
        _dump(d)
        return 0 if d is None else 1
    if d is None:
        print("the runs match (modulo handle values, koids and addresses)")
        return 0
    s = d["schedule"]
    if s is None:
        print("schedules: the same threads made the syscalls in the same order")
    else:
        print(f"schedules diverge at syscall {s['syscall_index']}:")
        for c in s["before"]:
            print(f"    {c['thread']:<24} {c['name']}")
        print(f"  A: {s['a']['thread']:<22} {_render_call(s['a']['call'])}")
        print(f"  B: {s['b']['thread']:<22} {_render_call(s['b']['call'])}")
    b = d["behaviour"]
    if b is None:
        print("behaviour: every thread made the same syscalls with the same results")
    else:
        print(f"behaviour diverges in thread {b['thread']}, step {b['call_index']} of its history "
              f"(differs in: {', '.join(b['fields'])}):")
        for c in b["before"]:
            print(f"    {_render_call(c)}")
        print(f"  A: {_render_call(b['a'])}")
        print(f"  B: {_render_call(b['b'])}")
    r = d.get("record")
    if r is not None and s is None and b is None:
        print(f"first differing record: #{r['index']}")
        print(f"  A: {orjson.dumps(r['a']).decode() if r['a'] else '(end of trace)'}")
        print(f"  B: {orjson.dumps(r['b']).decode() if r['b'] else '(end of trace)'}")
    return 1


def _export(args: argparse.Namespace, info: TraceInfo) -> int:
    if args.format == "fxt":
        if args.output in (None, "-"):
            raise TraceError("--format fxt is binary: give -o FILE")
        n = write_fxt(args.file, args.output, info=info)
        msg = {"format": "fxt", "output": args.output, "records": n}
        if args.json:
            _dump(msg)
        else:
            print(f"wrote {n} FXT records to {args.output} (open it in ui.perfetto.dev)")
        return 0
    doc = to_perfetto(args.file, info=info)
    problems = validate(doc)
    if problems:
        raise TraceError("export produced an invalid trace-event document: " + problems[0])
    data = orjson.dumps(doc)
    if args.output in (None, "-"):
        sys.stdout.write(data.decode() + "\n")
    else:
        with open(args.output, "wb") as f:
            f.write(data)
        if args.json:
            _dump({"format": "perfetto", "output": args.output, "events": len(doc["traceEvents"])})
        else:
            print(f"wrote {len(doc['traceEvents'])} trace events to {args.output} (open it in ui.perfetto.dev)")
    return 0


def _cat(args: argparse.Namespace, info: TraceInfo) -> int:
    out = sys.stdout
    for _, rec in scan(args.file, info):
        out.write(orjson.dumps(rec).decode() + "\n")
    return 0


def _sql(args: argparse.Namespace, info: TraceInfo) -> int:
    cols, rows = query(args.file, args.query, info=info)
    if args.json:
        _dump([dict(zip(cols, r)) for r in rows])
    else:
        print(table(cols, [list(r) for r in rows]))
    return 0


def _sqlite(args: argparse.Namespace, info: TraceInfo) -> int:
    counts = load_sqlite(args.file, args.output, info=info)
    if args.json:
        _dump({"output": args.output, "tables": counts})
    else:
        print(f"wrote {args.output}: " + ", ".join(f"{t} {n}" for t, n in counts.items()))
    return 0


def _guard(fn: Callable[[argparse.Namespace, TraceInfo], int]) -> Callable[[argparse.Namespace], int]:
    """Run a subcommand: one-line error and exit status 2 for unreadable input."""

    def run(args: argparse.Namespace) -> int:
        info = TraceInfo()
        try:
            code = fn(args, info)
        except TraceError as exc:
            if getattr(args, "debug", False):
                raise
            print(f"microsim: error: {exc}", file=sys.stderr)
            return EXIT_BAD_INPUT
        except (KeyError, TypeError, AttributeError, IndexError, ValueError, OverflowError) as exc:
            # A record whose fields have the wrong types: malformed input, not a crash.
            if getattr(args, "debug", False) or isinstance(exc, SqlError):
                raise
            where = f"line {info.line}: " if info.line else ""
            print(f"microsim: error: {info.path or args.file}: {where}malformed record "
                  f"({type(exc).__name__}: {exc})", file=sys.stderr)
            return EXIT_BAD_INPUT
        _warn(info)
        return code

    return run


def add_trace_command(subparsers: Any) -> None:
    """Add `microsim trace ...` to the CLI."""
    p = subparsers.add_parser("trace", help="analyse a trace file")
    sub = p.add_subparsers(dest="trace_command", metavar="SUBCOMMAND", required=True)

    def cmd(name: str, fn: Callable[[argparse.Namespace, TraceInfo], int], help: str,
            file: bool = True) -> argparse.ArgumentParser:
        s = sub.add_parser(name, help=help)
        if file:
            s.add_argument("file")
        s.add_argument("--json", action="store_true", help="machine-readable output")
        s.set_defaults(func=_guard(fn))
        return s

    cmd("summary", _summary, "syscalls, objects, peaks, errors, process endings, deadlocks")
    cmd("cat", _cat, "every record as a JSON object with named fields, one per line (--json: the same)")
    cmd("leaks", _leaks, "handles still held when their process ended; objects alive at the end")
    s = cmd("object", _object, "the life of one object")
    s.add_argument("koid", type=int)
    s = cmd("grep", _grep, "events matching filters")
    for name in ("pid", "tid", "koid", "since", "until"):
        s.add_argument(f"--{name}", type=int)
    s.add_argument("--syscall", help="glob, e.g. 'vmo_*'")
    s.add_argument("--status", help="code, name, 'ok', 'error' or 'did-not-return'")
    s.add_argument("--type", help="object type")
    s.add_argument("--kind", help="event kind glob")
    s = cmd("diff", _diff, "where two runs diverge (schedule and behaviour), modulo seed-drawn values",
            file=False)
    s.add_argument("a")
    s.add_argument("b")
    s.add_argument("--ignore", action="append", metavar="FIELD",
                   help="a field to leave out of the comparison (repeatable), e.g. dur or t")
    s.add_argument("--compare-time", action="store_true",
                   help="also compare what clock syscalls returned (they move with the schedule)")
    s = cmd("export", _export, "export to Perfetto trace-event JSON or Fuchsia FXT")
    s.add_argument("--format", choices=["perfetto", "fxt"], default="perfetto")
    s.add_argument("-o", "--output")
    s = cmd("sql", _sql, "run an SQL query over the trace (SQLite)")
    s.add_argument("query")
    s = cmd("sqlite", _sqlite, "load the trace into an SQLite database file")
    s.add_argument("-o", "--output", required=True)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m microsim.trace ...` (the same as `microsim trace ...`)."""
    from microsim.cli import main as cli_main

    return cli_main(["trace", *(sys.argv[1:] if argv is None else argv)])


__all__ = ["EXIT_BAD_INPUT", "add_trace_command", "main", "status_str"]
