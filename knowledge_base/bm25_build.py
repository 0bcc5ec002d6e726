"""A bm25s index built from a stream of texts in bounded memory.

bm25s's own ``index()`` takes the whole corpus as Python lists of token ids (about 36 bytes per token: 5 GB at
a million chunks). Here texts are tokenised in batches; each batch becomes (term id, term frequency) pairs per
document, written to a scratch file as int32; the vocabulary takes ids in order of first appearance (so a rebuild
is byte-identical, whatever the process's hash seed). A second pass over the scratch file places every score
straight into the index's CSC arrays. What stays in memory is the index itself (4 + 4 bytes per posting), the
vocabulary, the document lengths and one batch.

The scores are bm25s's: its own idf and term-frequency functions (``bm25s.scoring``) in the same dtypes and order
of operations, so the arrays equal those ``bm25s.BM25.index`` computes from the same ids (a test compares them), and
the result is saved and loaded (memory-mapped) by bm25s itself."""
from __future__ import annotations

import logging
import tempfile
from array import array
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

#: documents tokenised and counted per step (and per write to the scratch file)
BATCH_DOCS = 4096


class BM25Builder:
    """``add(texts)`` batch by batch, then ``finish()`` → a ``bm25s.BM25`` ready to ``save`` or search.
    ``scratch``: a directory for the (term, tf) file (default: a temporary directory)."""

    def __init__(self, bcfg, tokenizer, scratch: Path | None = None):
        import bm25s

        logging.getLogger("bm25s").setLevel(logging.WARNING)
        self.cfg, self.tok = bcfg, tokenizer
        self.index = bm25s.BM25(k1=bcfg.k1, b=bcfg.b, method=bcfg.method)
        self._tmp = tempfile.TemporaryDirectory(dir=scratch, prefix=".bm25-build-")
        self._pairs = open(Path(self._tmp.name) / "pairs.i32", "wb")  # noqa: SIM115 (closed by finish)
        self.vocab: dict[str, int] = {}
        self.lengths = array("q")  # tokens per document
        self.distinct = array("q")  # distinct terms per document
        self.df = np.zeros(0, np.int64)
        self.empty = 0
        self.tokenize_seconds = 0.0

    def add(self, texts: list[str]) -> None:
        import time

        t0 = time.time()
        tokens = self.tok.tokenize_batch(texts)
        self.tokenize_seconds += time.time() - t0
        vocab, setdefault = self.vocab, self.vocab.setdefault
        flat = [setdefault(t, len(vocab)) for doc in tokens for t in doc]
        lens = np.fromiter((len(d) for d in tokens), np.int64, len(tokens))
        self.lengths.extend(lens.tolist())
        self.empty += int((lens == 0).sum())
        if not flat:
            self.distinct.extend([0] * len(tokens))
            return
        doc = np.repeat(np.arange(len(tokens), dtype=np.int64), lens)
        key, tf = np.unique((doc << 32) | np.array(flat, np.int64), return_counts=True)
        term = (key & 0xFFFFFFFF).astype(np.int32)
        self.distinct.extend(np.bincount(key >> 32, minlength=len(tokens)).tolist())
        if len(self.df) < len(vocab):
            self.df = np.concatenate([self.df, np.zeros(len(vocab) - len(self.df), np.int64)])
        self.df += np.bincount(term, minlength=len(self.df))
        np.stack([term, tf.astype(np.int32)], axis=1).tofile(self._pairs)

    def add_all(self, texts: Iterable[str], total: int | None = None, progress: bool = True) -> None:
        batch: list[str] = []
        with tqdm(total=total, desc="bm25: tokenize", unit="chunk", disable=not progress, mininterval=1.0) as bar:
            for t in texts:
                batch.append(t)
                if len(batch) == BATCH_DOCS:
                    self.add(batch)
                    bar.update(len(batch))
                    batch = []
            if batch:
                self.add(batch)
                bar.update(len(batch))

    def finish(self, progress: bool = True):
        """Score every posting and assemble the CSC arrays (documents × terms, by term) bm25s searches."""
        from bm25s.scoring import _select_idf_scorer, _select_tfc_scorer

        self._pairs.close()
        bm = self.index
        n_docs, n_vocab = len(self.lengths), len(self.vocab)
        lengths = np.frombuffer(self.lengths, np.int64) if n_docs else np.zeros(0, np.int64)
        avg = lengths.mean() if n_docs else np.float64(0)
        idf_fn, tfc_fn = _select_idf_scorer(bm.idf_method), _select_tfc_scorer(bm.method)
        idf = np.zeros(n_vocab, dtype=bm.dtype)
        for t, d in enumerate(self.df.tolist()):
            if d:
                idf[t] = idf_fn(d, N=n_docs)
        nonocc = None
        if bm.method in bm.methods_requiring_nonoccurrence:
            tfc0 = tfc_fn(tf_array=0, l_d=avg, l_avg=avg, k1=bm.k1, b=bm.b, delta=bm.delta)
            nonocc = np.zeros(n_vocab, dtype=bm.dtype)
            for t, d in enumerate(self.df.tolist()):
                if d:
                    nonocc[t] = idf_fn(d, N=n_docs) * tfc0
        nnz = int(self.df.sum())
        index_dtype = np.int32 if max(nnz, n_docs, n_vocab) < 2**31 - 1 else np.int64
        indptr = np.zeros(n_vocab + 1, np.int64)
        np.cumsum(self.df, out=indptr[1:]) if n_vocab else None
        data = np.empty(nnz, bm.dtype)
        indices = np.empty(nnz, index_dtype)
        nxt = indptr[:-1].astype(np.int64)
        distinct = np.frombuffer(self.distinct, np.int64) if n_docs else np.zeros(0, np.int64)
        pairs = open(Path(self._tmp.name) / "pairs.i32", "rb")  # noqa: SIM115  (read in order, never mapped)
        first_doc = 0
        with tqdm(total=n_docs, desc="bm25: score", unit="chunk", disable=not progress, mininterval=1.0) as bar:
            while first_doc < n_docs:
                last_doc = min(n_docs, first_doc + BATCH_DOCS)
                counts = distinct[first_doc:last_doc]
                m = int(counts.sum())
                if m:
                    block = np.fromfile(pairs, np.int32, count=2 * m).reshape(m, 2)
                    term, tf = block[:, 0], block[:, 1].astype(bm.dtype)
                    doc = np.repeat(np.arange(first_doc, last_doc, dtype=np.int64), counts)
                    tfc = tfc_fn(tf_array=tf, l_d=lengths[doc], l_avg=avg, k1=bm.k1, b=bm.b, delta=bm.delta)
                    score = idf[term] * tfc
                    if nonocc is not None:
                        score -= nonocc[term]
                    order = np.argsort(term, kind="stable")
                    ts = term[order]
                    run_start = np.flatnonzero(np.r_[True, ts[1:] != ts[:-1]])
                    rank = np.arange(m) - np.repeat(run_start, np.diff(np.r_[run_start, m]))
                    pos = nxt[ts] + rank
                    data[pos] = score[order]
                    indices[pos] = doc[order]
                    nxt += np.bincount(term, minlength=n_vocab)
                bar.update(last_doc - first_doc)
                first_doc = last_doc
        pairs.close()
        self._tmp.cleanup()
        bm.scores = {"data": data, "indices": indices, "indptr": indptr, "num_docs": n_docs}
        bm.nonoccurrence_array = nonocc
        vocab = dict(self.vocab)
        if "" not in vocab:  # what bm25s's index() adds (an id past the index's columns)
            vocab[""] = n_vocab
        bm.vocab_dict = vocab
        bm.unique_token_ids_set = set(vocab.values())
        return bm


def build_bm25(texts: Iterable[str], bcfg, tokenizer, total: int | None = None, progress: bool = True,
               scratch: Path | None = None):
    """``(index, builder)``: the bm25s index of ``texts`` (streamed) and the builder's counts (empty documents,
    seconds spent tokenising)."""
    b = BM25Builder(bcfg, tokenizer, scratch)
    b.add_all(texts, total, progress)
    return b.finish(progress), b
