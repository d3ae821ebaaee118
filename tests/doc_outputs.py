"""Refresh the command outputs shown in docs/trace-format.md and README.md.

    python tests/doc_outputs.py          # rewrite the blocks in place
    python tests/doc_outputs.py --check  # exit 1 if any block is stale

Each ```console block starting with `$ microsim trace ...` gets the command's real output,
run on the traces `make_traces` writes (the ones the docs name); each ```sql block
followed by a ```text block gets the query's rows from `pc.db`. The tests
(`test_documented_outputs_are_real`, `test_documented_sql_queries_run`) check the same.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import sqlite3
import sys
import tempfile
from pathlib import Path

from microsim.cli import main as cli_main
from microsim.runner import run_program

ROOT = Path(__file__).resolve().parent.parent
DOCS = ("docs/trace-format.md", "README.md")
CONSOLE = re.compile(r"(```console\n\$ (microsim trace [^\n]*)\n)(.*?)(\n```)", re.S)
SQL = re.compile(r"(```sql\n(.*?)\n```\n\n```text\n)(.*?)(\n```)", re.S)


def make_traces(where: Path) -> None:
    """The traces the docs' commands read."""
    progs = ROOT / "tests" / "programs"
    examples = ROOT / "examples"
    for prog, seed, out in ((progs / "deadlock.py", 0, "deadlock.jsonl"), (progs / "leak.py", 0, "leak.jsonl"),
                            (examples / "race.py", 1, "race1.jsonl"), (examples / "race.py", 0, "race0.jsonl"),
                            (examples / "producer_consumer.py", 0, "pc.jsonl")):
        with contextlib.redirect_stdout(io.StringIO()):
            run_program(prog, seed=seed, trace=str(where / out))


def output(cmd: str) -> str:
    """What `cmd` prints (run in the current directory)."""
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(io.StringIO()):
        cli_main(shlex.split(cmd)[1:])
    return buf.getvalue().rstrip()


def refresh(text: str, db: sqlite3.Connection) -> str:
    """The document with every console and sql/text block's output regenerated."""
    text = CONSOLE.sub(lambda m: m.group(1) + output(m.group(2)) + m.group(4), text)
    return SQL.sub(lambda m: m.group(1) + "\n".join("|".join(str(v) for v in row)
                                                     for row in db.execute(m.group(2))) + m.group(4), text)


def main() -> int:
    """Rewrite (or, with --check, compare) the documented outputs."""
    check = "--check" in sys.argv[1:]
    stale = []
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        make_traces(Path(tmp))
        os.chdir(tmp)
        try:
            output("microsim trace sqlite pc.jsonl -o docs.db")
            db = sqlite3.connect("docs.db")
            for name in DOCS:
                path = ROOT / name
                old = path.read_text()
                new = refresh(old, db)
                if new != old:
                    stale.append(name)
                    if not check:
                        path.write_text(new)
            db.close()
        finally:
            os.chdir(cwd)
    for name in stale:
        print(f"{name}: {'stale' if check else 'refreshed'}")
    return 1 if check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
