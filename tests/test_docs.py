"""Generated documentation must match the code it documents."""

from __future__ import annotations

from pathlib import Path

from microsim.docgen import hook_reference, syscall_reference

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_hook_reference_matches_the_hookspecs() -> None:
    text = (DOCS / "plugins.md").read_text()
    assert hook_reference() in text, "run: python -m microsim.docgen hooks (and update docs/plugins.md)"


def test_syscall_reference_is_current() -> None:
    text = (DOCS / "syscalls.md").read_text()
    assert text == syscall_reference(), (
        "run: python -m microsim.docgen > docs/syscalls.md"
    )


def test_required_docs_exist() -> None:
    for name in ("architecture.md", "plugins.md", "syscalls.md", "trace-format.md",
                 "iob-walkthrough.md", "performance.md", "reliability.md"):
        assert (DOCS / name).is_file(), name


def test_iob_walkthrough_code_is_the_example_and_runs(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from microsim.runner import run_program

    text = (DOCS / "iob-walkthrough.md").read_text()
    block = text.split("```python\n", 1)[1].split("\n```", 1)[0]
    example = (DOCS.parent / "examples" / "iob_logger.py").read_text().rstrip()
    assert block == example
    prog = tmp_path / "walkthrough.py"
    prog.write_text(block)
    assert run_program(prog).ok
    out = capsys.readouterr().out
    assert "log: boot took 12 ms" in out and "PEER_CLOSED after the client unmapped" in out
