"""A run directory belongs to one run: ``run_lock`` holds ``DIR/.lock`` (an exclusive ``fcntl`` lock, released
when the run ends or its process dies) while a command writes there, so a second run into the same ``--out`` at
the same time is refused instead of interleaving its records with the first's."""
from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK = ".lock"


class RunLockedError(RuntimeError):
    pass


@contextmanager
def run_lock(out: Path) -> Iterator[Path]:
    """Hold ``out``'s lock for the ``with`` block (``out`` is created); refuse when another process holds it."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    f = open(out / LOCK, "a")  # noqa: SIM115  (held open for the lock's lifetime)
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.close()
        raise RunLockedError(f"{out}: another run is writing into this directory now (it holds {out / LOCK}); "
                             f"wait for it to finish or choose another --out") from None
    try:
        yield out
    finally:
        fcntl.flock(f, fcntl.LOCK_UN)
        f.close()


def replace_atomically(path: Path, write: Callable[[Path], object]) -> None:
    """``write(tmp)`` to a temporary file beside ``path`` (same suffix, so numpy keeps the name), then
    ``os.replace`` it: a kill leaves the old file or the new one, never half of it."""
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    write(tmp)
    os.replace(tmp, path)


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically (``replace_atomically``)."""
    replace_atomically(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
