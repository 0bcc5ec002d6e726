"""Writing a trained router (``rag.router.artifact`` reads it): what is stored once, and the checksums.

The terms and passage bigrams of both models and of the topic student are one sorted list each, and each model keeps
the indices of its own vocabulary into it; the second model's arrays that equal the router's (its vocabulary and idf
when both saw the same rows) are not written again; coefficients are float32."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from common.hashing import sha256_file
from common.rundir import replace_atomically, write_atomic
from rag.router.artifact import FILES, FORMAT, SUMS, RouterArtifact
from rag.router.features import DENSE_NAMES


def save_router(art: RouterArtifact, out: str | Path) -> None:
    """Write ``art``'s three files into ``out`` (each through a temporary file, then renamed)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    models = {"router": art.model, "second_opinion": art.second}
    terms = sorted({t for m in models.values() if m is not None for t in m.vocab}
                   | set(art.student.tfidf.vocab if art.student is not None else ()))
    bigrams = sorted({t for m in models.values() if m is not None for t in m.passage_vocab})
    t_index, b_index = {t: i for i, t in enumerate(terms)}, {t: i for i, t in enumerate(bigrams)}
    arrays = {"vectors.ids": art.vector_ids.astype(np.int32), "vectors.table": art.vector_table}
    described = {}
    for role, m in models.items():
        if m is None:
            continue
        own = {k: _stored(v) for k, v in m.arrays().items()}
        own["vocab"] = np.array([t_index[t] for t in m.vocab], np.int32)
        own["passage_vocab"] = np.array([b_index[t] for t in m.passage_vocab], np.int32)
        # an array equal to the router's (the same vocabulary and idf when both saw the same rows) is kept once
        shared = sorted(k for k, v in own.items() if role != "router" and np.array_equal(v, arrays[f"router.{k}"])
                        and v.dtype == arrays[f"router.{k}"].dtype)
        arrays.update({f"{role}.{k}": v for k, v in own.items() if k not in shared})
        described[role] = {"topic": m.topic, "shared_with_router": shared}
    if art.student is not None:
        arrays.update({f"student.{k}": _stored(v) for k, v in art.student.arrays().items()})
        arrays["student.vocab"] = np.array([t_index[t] for t in art.student.tfidf.vocab], np.int32)
    info = {"format": FORMAT, "classes": ["korean", "social"], "dense_features": list(DENSE_NAMES),
            "params": art.params.model_dump(mode="json"), "models": described,
            "student": ({"weight": art.student.weight, "meta": art.student.meta}
                        if art.student is not None else None),
            "vectors_signature": art.vectors_signature, "topic_encoder": art.topic_encoder,
            "meta": art.meta, "terms": terms, "passage_bigrams": bigrams}
    replace_atomically(out / "router.npz", lambda p: np.savez_compressed(p, **arrays))
    write_atomic(out / "router.json", json.dumps(info, ensure_ascii=False))
    write_checksums(out)


def write_checksums(path: Path) -> None:
    """Write ``SHA256SUMS`` for the router files in ``path`` (``save`` calls it; so may someone who vouches for
    files changed by hand — loading still checks that they fit each other)."""
    write_atomic(path / SUMS, "".join(f"{sha256_file(path / name)}  {name}\n" for name in FILES))


def _stored(a: np.ndarray) -> np.ndarray:
    """Coefficients and idf are stored as float32 (routing differs from the float64 fit by under 1e-6 in
    p_social; the file is half the size); the two scalars stay float64."""
    a = np.asarray(a)
    return a.astype(np.float32) if a.dtype == np.float64 and a.size > 2 else a
