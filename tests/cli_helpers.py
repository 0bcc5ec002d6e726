"""Helpers shared by the CLI tests."""
from __future__ import annotations


def run_cli(main, argv, capsys, stream: str = "err") -> tuple[int, str]:
    """Run a CLI's ``main``; only SystemExit / a return code may come out (anything else is a traceback). Returns
    the code and what it wrote to ``stream`` (stderr, or stdout with ``stream="out"``)."""
    try:
        code = main(argv)
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    captured = capsys.readouterr()
    return code, captured.out if stream == "out" else captured.err
