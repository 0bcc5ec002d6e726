"""``python -m knowledge_base.build --config configs/kb_small.yaml --out DIR [--stages chunk,bm25,dense] [-o ...]``

Stages run in order and can run separately: ``chunk`` reads the sources and writes ``chunks.jsonl``;
``bm25`` tokenizes the chunks (Kiwi on all cores) and saves a bm25s index; ``dense`` embeds the chunks in
resumable shards and writes a FAISS index. Every stage updates ``manifest.json`` (checksums, counts,
settings, library versions, seconds) and the resolved config is saved as ``config.yaml``.
"""
from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from common.cli import add_config_args, command, config_from_args, fail, prepare_out_dir
from common.config import RunConfig

from .bm25_build import build_bm25
from .chunk_stage import commit_chunks, write_chunks
from .chunk_store import CHUNK_FILES
from .manifest import (
    FORMAT_VERSION,
    KBError,
    forget_files,
    read_manifest,
    record_files,
    upgrade,
    write_manifest,
)
from .sources import SourceError
from .store import BM25_DIR, FAISS_FILE, open_chunks

STAGES = ("chunk", "bm25", "dense")
PREVIOUS_DIR = "previous-embeddings"  # the vectors of the chunks before a re-run of the chunk stage
console = Console(stderr=True)
#: distinct words the BM25 tokenizer keeps analysed while building (about 250 bytes each): a bound on its cache
CACHE_WORDS = 1_000_000


def stage_chunk(cfg: RunConfig, out: Path, man: dict[str, Any], progress: bool = True) -> None:
    written = write_chunks(cfg, out, progress)
    # only now that the new chunks exist: a failed chunk stage leaves the store as it was
    if set_aside_embeddings(cfg, out, man):
        console.print(f"[dim]{out}: the chunks' old vectors are kept in {PREVIOUS_DIR}/; the dense stage re-embeds "
                      f"only changed chunks[/dim]")
    commit_chunks(out, man, written, json.loads(cfg.kb.chunking.model_dump_json()))


def bm25_index(texts, bcfg, progress: bool = True, total: int | None = None, scratch: Path | None = None):
    """A bm25s index of ``texts`` (any iterable, streamed) as a ``BM25Config`` describes it: (index, tokenizer,
    the builder's counts, seconds spent tokenizing). The 'bm25' stage saves it; benchmarks build throw-away ones
    (e.g. whitespace). ``scratch``: where the postings wait between the two passes (default: the temp dir)."""
    from .tokenizers import tokenizer_for

    tok = tokenizer_for(bcfg, max_cache_words=CACHE_WORDS)
    index, builder = build_bm25(texts, bcfg, tok, total=total, progress=progress, scratch=scratch)
    return index, tok, builder, builder.tokenize_seconds


def stage_bm25(cfg: RunConfig, out: Path, man: dict[str, Any], progress: bool = True) -> None:
    bcfg = cfg.kb.bm25
    chunks = open_chunks(out, man)
    try:
        retriever, tok, built, t_tok = bm25_index(chunks.texts(), bcfg, progress, total=len(chunks), scratch=out)
    finally:
        chunks.close()
    bdir = out / BM25_DIR
    shutil.rmtree(bdir, ignore_errors=True)
    bdir.mkdir()
    retriever.save(str(bdir), allow_pickle=False, show_progress=False)
    forget_files(man, BM25_DIR)
    record_files(out, man, sorted(p for p in bdir.iterdir() if p.is_file()))
    man["bm25"] = {"config": json.loads(bcfg.model_dump_json()), "tokenizer": tok.describe(),
                   "vocab_size": len(retriever.vocab_dict), "empty_chunks": built.empty,
                   "tokenize_seconds": round(t_tok, 2)}


def stage_dense(cfg: RunConfig, out: Path, man: dict[str, Any], progress: bool = True,
                stop_after_shards: int | None = None) -> None:
    from .embeddings import EMB_FILE, embed_resumable, is_complete
    from .encoders import make_encoder
    from .faiss_index import build_index, save_index

    chunks = open_chunks(out, man)
    enc = make_encoder(encoder_config(cfg))
    dcfg = cfg.kb.dense
    previous = out / PREVIOUS_DIR
    if dcfg.reuse_from:
        reuse = _reuse(cfg.resolve_path(dcfg.reuse_from), enc.describe())
    else:
        reuse = _reuse(previous, enc.describe(), strict=False) if previous.is_dir() else None
    vecs = embed_resumable(chunks.texts(), enc.encode_passages, enc.dim, out, enc.describe(),
                           shard_size=dcfg.shard_size, dtype=dcfg.dtype, show_progress=progress,
                           stop_after_shards=stop_after_shards, batch_size=cfg.kb.encoder.batch_size,
                           reuse=reuse)
    if not is_complete(out):
        raise KBError("dense stage interrupted before all shards were embedded; run it again to resume")
    index = build_index(vecs, dcfg)
    save_index(index, out / FAISS_FILE)
    for rel in (EMB_FILE, FAISS_FILE):
        forget_files(man, rel)
    record_files(out, man, [out / EMB_FILE, out / FAISS_FILE])
    man["dense"] = {"encoder": enc.describe(), "encoder_config": json.loads(encoder_config(cfg).model_dump_json()),
                    "index_config": json.loads(dcfg.model_dump_json()), "dim": enc.dim, "n": int(index.ntotal)}
    if reuse is not None:
        man["dense"]["reused"] = {"from": str(dcfg.reuse_from or previous), "vectors": reuse.copied}
    shutil.rmtree(previous, ignore_errors=True)


def set_aside_embeddings(cfg: RunConfig, out: Path, man: dict[str, Any]) -> bool:
    """Before the chunk stage runs again in a store with a finished dense stage of the encoder ``cfg`` asks
    for, move its chunks and vectors to ``out/previous-embeddings``: the next dense stage then embeds only the
    chunks whose text is new (the rest are copied) and removes that folder."""
    from .embeddings import EMB_FILE, PROGRESS_FILE, is_complete

    if cfg.kb.dense.reuse_from or "dense" not in man or not same_encoder(man, cfg) or not is_complete(out):
        return False
    previous = out / PREVIOUS_DIR
    shutil.rmtree(previous, ignore_errors=True)
    previous.mkdir()
    for name in CHUNK_FILES:
        shutil.copy2(out / name, previous / name)
    for name in (EMB_FILE, PROGRESS_FILE):
        (out / name).rename(previous / name)
    write_manifest(previous, json.loads(json.dumps(man)))
    return True


def _reuse(old: Path, encoder_desc: dict[str, Any], strict: bool = True):
    """Vectors of an earlier store for :func:`embed_resumable`; refused when its encoder differs (``strict``:
    with an error, else ``None``)."""
    from .embeddings import EMB_FILE, Reuse, is_complete

    man = read_manifest(old) if (old / "manifest.json").exists() else None
    if man is None or "dense" not in man or not is_complete(old):
        if not strict:
            return None
        raise KBError(f"kb.dense.reuse_from: {old} is not a knowledge base with a finished dense stage")
    if man["dense"]["encoder"] != encoder_desc:
        if not strict:
            return None
        raise KBError(f"kb.dense.reuse_from: {old} was embedded with {man['dense']['encoder']}, this build uses "
                      f"{encoder_desc}; vectors of different encoders cannot be mixed")
    chunks = open_chunks(old, man)
    try:
        return Reuse(chunks.texts(), np.load(old / EMB_FILE, mmap_mode="r", allow_pickle=False))
    finally:
        chunks.close()


def stale_stages(man: dict, cfg: RunConfig) -> set[str]:
    """Stages of an existing store (its manifest ``man``) built with other settings than ``cfg`` asks for:
    all three when sources or chunking differ, ``bm25`` when the BM25 settings or the tokenizer's analysis
    differ, ``dense`` when the encoder differs."""
    from .tokenizers import current_analysis

    if not man:
        return set()
    want = [(s.name, s.limit, s.options) for s in cfg.kb.sources]
    have = [(s.get("name"), s.get("limit"), s.get("options")) for s in man.get("sources", [])]
    if want != have or man.get("chunking") != json.loads(cfg.kb.chunking.model_dump_json()):
        return {"chunk", "bm25", "dense"}
    stale = set()
    if "bm25" in man:
        built = man["bm25"]
        if (index_settings(built.get("config", {})) != index_settings(json.loads(cfg.kb.bm25.model_dump_json()))
                or built.get("tokenizer", {}).get("analysis") != current_analysis(cfg.kb.bm25.tokenizer)):
            stale.add("bm25")
    if "dense" in man and not same_encoder(man, cfg):
        stale.add("dense")
    return stale


def index_settings(bm25_config: dict) -> dict:
    """The BM25 settings an index depends on (the tokenizer's thread count is not one)."""
    return {k: v for k, v in bm25_config.items() if k != "num_workers"}


def encoder_config(cfg: RunConfig):
    """``kb.encoder`` with its model path resolved (``data:``/``cache:``): what the store records and queries with."""
    return cfg.kb.encoder.model_copy(update={"model": cfg.resolve_ref(cfg.kb.encoder.model)})


def same_encoder(man: dict, cfg: RunConfig) -> bool:
    """Whether the store's dense stage was embedded with the encoder ``cfg`` asks for."""
    return man.get("dense", {}).get("encoder_config") == json.loads(encoder_config(cfg).model_dump_json())


def pending_stages(man: dict, cfg: RunConfig, stages: list[str]) -> list[str]:
    """Of ``stages``, those the store (manifest ``man``) still needs: missing, or built with other settings."""
    stale = stale_stages(man, cfg)
    return [s for s in stages if s in stale or (s not in man and not (s == "chunk" and "counts" in man))]


STAGE_FUNCS = {"chunk": stage_chunk, "bm25": stage_bm25, "dense": stage_dense}


def ensure_built(cfg: RunConfig, out: str | Path, stages: list[str] | None = None, progress: bool = True,
                 on_build=None) -> list[str]:
    """Build only what the store in ``out`` still needs of ``stages`` (default ``cfg.kb.stages``): missing
    stages, or ones built with other settings (resumable). ``on_build(todo)`` is called before building.
    Returns the stages built."""
    out = Path(out)
    if (out / "manifest.json").exists() and _format_of(out) == 1:  # a cache this project built: convert it
        console.print(f"[dim]{out}: converting the store to format {FORMAT_VERSION} (chunk offsets)[/dim]")
        upgrade(out)
    man = read_manifest(out) if (out / "manifest.json").exists() else {}
    todo = pending_stages(man, cfg, list(stages or cfg.kb.stages))
    if todo:
        if on_build is not None:
            on_build(todo)
        build(cfg, out, todo, progress=progress)
    return todo


def _format_of(out: Path):
    try:
        return json.loads((out / "manifest.json").read_text(encoding="utf-8")).get("format_version")
    except (OSError, ValueError, AttributeError):
        return None  # read_manifest says what is wrong


def build(cfg: RunConfig, out: str | Path, stages: list[str] | None = None, progress: bool = True
          ) -> dict[str, Any]:
    """Run the named stages (default ``cfg.kb.stages``) into ``out``; returns the manifest."""
    out = prepare_out_dir(out, cfg)
    stages = list(stages or cfg.kb.stages)
    for s in stages:
        if s not in STAGE_FUNCS:
            raise KBError(f"unknown stage {s!r}; stages are {', '.join(STAGES)}")
    man: dict[str, Any] = read_manifest(out) if (out / "manifest.json").exists() else {"created": time.time()}
    if "chunk" not in stages and "counts" not in man:
        raise KBError(f"{out} has no chunks yet: run the 'chunk' stage first")
    seconds = man.setdefault("seconds", {})
    for s in STAGES:
        if s not in stages:
            continue
        t0 = time.time()
        STAGE_FUNCS[s](cfg, out, man, progress)
        seconds[s] = round(time.time() - t0, 2)
        write_manifest(out, man)
    return man


def summary_table(out: Path, man: dict[str, Any]) -> Table:
    t = Table(title=f"knowledge base {out}", title_justify="left")
    t.add_column("item")
    t.add_column("value", justify="right")
    c = man.get("counts", {})
    t.add_row("documents", f"{c.get('documents', 0):,}")
    t.add_row("chunks (raw → kept)", f"{c.get('chunks_raw', 0):,} → {c.get('chunks', 0):,}")
    t.add_row("removed exact / near duplicates", f"{c.get('removed_exact', 0):,} / {c.get('removed_near', 0):,}")
    if "bm25" in man:
        size = sum(v["size"] for k, v in man["files"].items() if k.startswith(BM25_DIR + "/"))
        t.add_row(f"bm25 ({man['bm25']['tokenizer']['name']}) vocab / size",
                  f"{man['bm25']['vocab_size']:,} terms / {size / 1e6:.1f} MB")
    if "dense" in man:
        size = man["files"][FAISS_FILE]["size"]
        t.add_row(f"dense ({man['dense']['encoder']['backend']}, {man['dense']['index_config']['index']})",
                  f"{man['dense']['n']:,} × {man['dense']['dim']} / {size / 1e6:.1f} MB")
    for s, sec in man.get("seconds", {}).items():
        t.add_row(f"seconds: {s}", f"{sec:.1f}")
    return t


@command
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m knowledge_base.build", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_args(ap)
    ap.add_argument("--out", required=True, type=Path, help="knowledge-base directory to create or update")
    ap.add_argument("--stages", default=None, help="comma-separated subset of chunk,bm25,dense")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    cfg = config_from_args(args)
    stages = args.stages.split(",") if args.stages else None
    try:
        man = build(cfg, args.out, stages, progress=not args.no_progress)
    except (KBError, SourceError) as e:
        fail(str(e))
    Console().print(summary_table(args.out, man))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
