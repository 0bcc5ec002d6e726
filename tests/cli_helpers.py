"""Helpers shared by the CLI tests."""
from __future__ import annotations


def run_cli(main, argv, capsys) -> tuple[int, str]:
    """Run a CLI's ``main``; only SystemExit / a return code may come out (anything else is a traceback)."""
    try:
        code = main(argv)
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    err = capsys.readouterr().err
    return code, err
