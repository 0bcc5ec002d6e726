"""A store's chunks read in place, not loaded: ``chunks.jsonl`` (one JSON record per line, as before) with
``chunks.offsets.npy`` (the byte offset of every record, int64, n + 1 values) and ``chunks.blocks`` (the sha256 of
every 64 KiB block of ``chunks.jsonl``, 32 bytes each).

Why an offsets file over the JSON lines rather than Arrow/Parquet or SQLite: the records stay the plain,
greppable JSON lines every earlier store had (an older store is converted by computing two small files, not by
rewriting its texts); a chunk is one slice of a memory-mapped file and one ``json.loads``; nothing new to install.
What the alternatives would add — columnar scans, SQL — no search here needs: a search reads the BM25 or FAISS index,
then only the top-k records it returns.

Records are read with ``pread`` at their offsets, never memory-mapped: reading the whole file (the BM25 and dense
stages do) leaves the process's memory where it was. The block digests let a load check *what it reads* without
re-hashing gigabytes: a record's blocks are hashed the
first time a record in them is read (64 KiB ≈ 0.1 ms), so no chunk text reaches a prompt or a screen unchecked,
while opening a store of millions of chunks costs two small files' hashes. The manifest's stamp covers both small
files' sha256, so changing a digest is as visible as changing a text."""
from __future__ import annotations

import hashlib
import json
import os
from array import array
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Self

import numpy as np

from .documents import Chunk
from .errors import KBError

CHUNKS_FILE = "chunks.jsonl"
OFFSETS_FILE = "chunks.offsets.npy"
BLOCKS_FILE = "chunks.blocks"
#: bytes of ``chunks.jsonl`` per digest in ``chunks.blocks``
BLOCK = 1 << 16
DIGEST = 32


#: the files a store's chunks are (``ChunkWriter`` writes all three, ``move_chunk_files`` puts them in place)
CHUNK_FILES = (CHUNKS_FILE, OFFSETS_FILE, BLOCKS_FILE)


class ChunkWriter:
    """Writes ``chunks.jsonl`` record by record, with its offsets and block digests, into ``dir`` (and the whole
    file's sha256, so the manifest entry needs no second read). Use as a context manager; ``close()`` returns the
    sha256."""

    def __init__(self, out_dir: Path):
        self.dir = Path(out_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / CHUNKS_FILE
        self._f = open(self.path, "wb")  # noqa: SIM115 (closed by close)
        self.offsets = array("q", [0])
        self._whole = hashlib.sha256()
        self._digests = bytearray()
        self._pending = bytearray()
        self.sha256: str | None = None

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def add_line(self, line: bytes) -> None:
        """One record, already JSON-encoded, ending in a newline."""
        self._f.write(line)
        self._whole.update(line)
        self.offsets.append(self.offsets[-1] + len(line))
        self._pending += line
        while len(self._pending) >= BLOCK:
            self._digests += hashlib.sha256(self._pending[:BLOCK]).digest()
            del self._pending[:BLOCK]

    def add(self, chunk: Chunk) -> None:
        self.add_line(record_line(chunk))

    def close(self) -> str:
        if self.sha256 is None:
            if self._pending:
                self._digests += hashlib.sha256(self._pending).digest()
            self._f.close()
            np.save(self.dir / OFFSETS_FILE, np.frombuffer(self.offsets, dtype=np.int64), allow_pickle=False)
            (self.dir / BLOCKS_FILE).write_bytes(bytes(self._digests))
            self.sha256 = self._whole.hexdigest()
        return self.sha256

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        if exc[0] is None:
            self.close()
        else:
            self._f.close()


def record_line(chunk: Chunk) -> bytes:
    return (json.dumps(chunk.to_dict(), ensure_ascii=False) + "\n").encode("utf-8")


def move_chunk_files(src_dir: Path, kb_dir: Path) -> None:
    """Put the chunk files ``ChunkWriter`` wrote in ``src_dir`` in place in ``kb_dir`` (and remove ``src_dir``)."""
    for name in CHUNK_FILES:
        (Path(src_dir) / name).replace(Path(kb_dir) / name)
    Path(src_dir).rmdir()


def index_existing(kb_dir: Path) -> int:
    """Rewrite an existing ``chunks.jsonl`` (a store of the older format, whose checksums were verified first) with
    its offsets and block digests; returns the number of records. Blank lines are not records."""
    path = Path(kb_dir) / CHUNKS_FILE
    tmp = Path(kb_dir) / ".chunks.new"
    with open(path, "rb") as f, ChunkWriter(tmp) as w:
        for raw in f:
            if raw.strip():
                w.add_line(raw if raw.endswith(b"\n") else raw + b"\n")
    move_chunk_files(tmp, kb_dir)
    return len(w)


class ChunkTable(Sequence[Chunk]):
    """The chunks of a store as a read-only sequence over ``chunks.jsonl``: ``table[i]`` reads and parses one record
    (one ``pread`` at its offset), ``table[a:b]`` and iteration read whole ranges of records. Nothing is mapped or
    held: the process's memory does not grow with the file, however much of it is read. ``check_blocks``: hash each
    64 KiB block the first time a record in it is read and refuse a block whose digest differs."""

    #: bytes read at a time when a range of records is read
    RANGE = 4 << 20

    def __init__(self, kb_dir: Path, n: int, check_blocks: bool = True):
        self._fd = -1  # until the checks below pass
        self.dir = Path(kb_dir)
        self.path = self.dir / CHUNKS_FILE
        opath, bpath = self.dir / OFFSETS_FILE, self.dir / BLOCKS_FILE
        for p in (self.path, opath, bpath):
            if not p.is_file():
                raise KBError(f"{p}: missing; rebuild the store's 'chunk' stage")
        self.size = size = self.path.stat().st_size
        try:
            self.offsets = np.load(opath, mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError) as e:
            raise KBError(f"{opath}: not a readable offsets array ({e}); rebuild the 'chunk' stage") from None
        off = self.offsets
        if off.dtype != np.int64 or off.shape != (n + 1,) or int(off[0]) != 0 or int(off[-1]) != size:
            raise KBError(f"{opath}: offsets {off.dtype} {off.shape} ending at {int(off[-1]) if off.size else None} "
                          f"do not describe {n} records in {size} bytes of {CHUNKS_FILE}; rebuild the 'chunk' stage")
        self.digests = bpath.read_bytes() if check_blocks else None
        n_blocks = (size + BLOCK - 1) // BLOCK
        if self.digests is not None and len(self.digests) != n_blocks * DIGEST:
            raise KBError(f"{bpath}: {len(self.digests)} bytes of digests for {n_blocks} blocks; rebuild the 'chunk' "
                          f"stage")
        self._checked = bytearray(n_blocks)
        self._fd = os.open(self.path, os.O_RDONLY)
        self._n = n

    def __len__(self) -> int:
        return self._n

    def _read(self, lo: int, hi: int) -> bytes:
        """Bytes ``lo``..``hi`` of the file; with block checks, every block they touch is checked first."""
        if self.digests is None:
            return os.pread(self._fd, hi - lo, lo)
        first, last = lo // BLOCK, (max(hi, lo + 1) - 1) // BLOCK
        if all(self._checked[first:last + 1]):
            return os.pread(self._fd, hi - lo, lo)
        start = first * BLOCK
        data = os.pread(self._fd, min(self.size, (last + 1) * BLOCK) - start, start)
        for b in range(first, last + 1):
            if not self._checked[b]:
                got = hashlib.sha256(data[(b - first) * BLOCK:(b - first + 1) * BLOCK]).digest()
                if got != self.digests[b * DIGEST:(b + 1) * DIGEST]:
                    raise KBError(f"{self.path}: bytes {b * BLOCK}–{(b + 1) * BLOCK} changed since the store was built "
                                  f"(their sha256 differs from {BLOCKS_FILE}); rebuild the 'chunk' stage")
                self._checked[b] = 1
        return data[lo - start:hi - start]

    def raw(self, i: int) -> bytes:
        """The JSON bytes of record ``i`` (checked, with ``check_blocks``)."""
        return self._read(int(self.offsets[i]), int(self.offsets[i + 1]))

    def _parse(self, i: int, raw: bytes) -> Chunk:
        return parse_record(self.path, i + 1, raw)

    def raw_range(self, lo: int, hi: int) -> Iterator[tuple[int, bytes]]:
        """(i, JSON bytes) of records ``lo``..``hi``, read ``RANGE`` bytes at a time."""
        i = lo
        while i < hi:
            start = int(self.offsets[i])
            j = int(np.searchsorted(self.offsets, start + self.RANGE, side="right")) - 1
            j = min(hi, max(j, i + 1))
            data = self._read(start, int(self.offsets[j]))
            offs = self.offsets[i:j + 1] - start
            for k in range(j - i):
                yield i + k, data[int(offs[k]):int(offs[k + 1])]
            i = j

    def __getitem__(self, i):
        if isinstance(i, slice):
            lo, hi, step = i.indices(self._n)
            if step != 1:
                return [self[j] for j in range(lo, hi, step)]
            return [self._parse(j, raw) for j, raw in self.raw_range(lo, hi)]
        i = int(i)
        if i < 0:
            i += self._n
        if not 0 <= i < self._n:
            raise IndexError(f"chunk {i} of {self._n}")
        return self._parse(i, self.raw(i))

    def __iter__(self) -> Iterator[Chunk]:
        for j, raw in self.raw_range(0, self._n):
            yield self._parse(j, raw)

    def of_source(self, source: str) -> Iterator[Chunk]:
        """The chunks whose ``source`` is ``source``, parsing only records that name it (a scan of the bytes,
        not a parse of every record)."""
        mark = json.dumps({"source": source}, ensure_ascii=False)[1:-1].encode("utf-8")
        for i, raw in self.raw_range(0, self._n):
            if mark in raw:
                c = self._parse(i, raw)
                if c.source == source:
                    yield c

    def texts(self) -> TextView:
        """The chunk texts as a lazy sequence (what the BM25 and dense stages read)."""
        return TextView(self)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __del__(self):
        self.close()


class TextView(Sequence[str]):
    def __init__(self, table: ChunkTable):
        self.table = table

    def __len__(self) -> int:
        return len(self.table)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [c.text for c in self.table[i]]
        return self.table[i].text

    def __iter__(self) -> Iterator[str]:
        for c in self.table:
            yield c.text


def parse_record(path: Path, line: int, raw: bytes) -> Chunk:
    """One record of ``path`` (its 1-based ``line``); a record that is not UTF-8, not JSON or not a chunk is refused
    with the file and line."""
    try:
        return Chunk.from_dict(json.loads(raw.decode("utf-8")))
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, AttributeError) as e:
        raise KBError(f"{path}, line {line}: not a chunk record ({type(e).__name__}: {e}); the store is damaged: "
                      f"rebuild its 'chunk' stage") from None


def iter_records(path: Path) -> Iterable[tuple[int, Chunk]]:
    """(line number, chunk) of a ``chunks.jsonl`` read front to back (small stores, tests, conversions)."""
    with open(path, "rb") as f:
        for i, raw in enumerate(f, 1):
            if raw.strip():
                yield i, parse_record(path, i, raw)
