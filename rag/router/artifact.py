"""A trained classifier router as files: ``router.json`` (format, settings, vocabularies, how it was built),
``router.npz`` (every array; no pickle) and ``SHA256SUMS`` (the checksum of both, verified on every load). This
module reads them; ``router_training.writer`` writes them.

What is stored once: the terms and passage bigrams of both models and of the topic student are one sorted list
each, and each model keeps the indices of its own vocabulary into it (the second model's arrays that equal the
router's — its vocabulary and idf when both saw the same rows — are not written again); the morpheme vectors are one
float16 table (of the morphemes in two training questions or more); the topic student and the settings
(``RouterParams``, with the word lists and prototypes) are shared by the router and its second opinion.

Loading checks what the files say about themselves, not only that they are unchanged: the checksums, the format,
the settings (validated by the same ``RouterParams`` as training), and that every array fits the others (a
vocabulary cut short, a coefficient vector of another length, vectors of another dimension are refused with the
file and the array named)."""
from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydantic import ValidationError

from common.hashing import sha256_file

from .features import DENSE_NAMES
from .model import ARRAYS, LinearModel
from .params import RouterParams
from .student import ARRAYS as STUDENT_ARRAYS
from .student import TopicStudent

FORMAT = "csat-rag/router/11"
FILES = ("router.json", "router.npz")
SUMS = "SHA256SUMS"
#: the two models of a router, by role
ROLES = ("router", "second_opinion")
RETRAIN = "rebuild it with `python -m router_training train --recipe default --out DIR`"


class RouterArtifactError(ValueError):
    """A router directory that cannot be loaded; the message names the file and what is wrong."""


@dataclass
class RouterArtifact:
    """A trained router: its settings, its model, the optional second-opinion model and topic student, the morpheme
    vectors of its vocabulary, the topic encoder (for the second opinion) and a description of how it was built."""
    params: RouterParams
    model: LinearModel
    second: LinearModel | None = None
    student: TopicStudent | None = None
    vector_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    vector_table: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float16))
    vectors_signature: str | None = None
    topic_encoder: dict | None = None
    meta: dict = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path, verify: bool = True) -> RouterArtifact:
        path = Path(path)
        if not path.is_dir():
            raise RouterArtifactError(f"{path}: no router directory there; {RETRAIN}")
        if verify:
            verify_checksums(path)
        jpath, npath = path / "router.json", path / "router.npz"
        try:
            info = json.loads(jpath.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise RouterArtifactError(f"{jpath}: not readable as router JSON ({e}); {RETRAIN}") from None
        if not isinstance(info, dict) or info.get("format") != FORMAT:
            got = info.get("format") if isinstance(info, dict) else None
            raise RouterArtifactError(f"{jpath}: router format {got!r} is not {FORMAT!r} (routers of older formats "
                                      f"are refused); {RETRAIN}")
        try:
            params = RouterParams.model_validate(info["params"])
        except (KeyError, ValidationError) as e:
            raise RouterArtifactError(f"{jpath}: its 'params' are not valid router settings ({e})") from None
        if info.get("dense_features") != list(DENSE_NAMES):
            raise RouterArtifactError(f"{jpath}: dense features {info.get('dense_features')} are not this version's "
                                      f"{list(DENSE_NAMES)}; {RETRAIN}")
        try:
            with np.load(npath, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
            raise RouterArtifactError(f"{npath}: not a readable .npz ({e}); {RETRAIN}") from None
        try:
            return cls._from(info, arrays, params)
        except (KeyError, IndexError, TypeError, ValueError) as e:
            name = f"array or key {e}" if isinstance(e, KeyError) else str(e)
            raise RouterArtifactError(f"{path}: the router's files do not fit each other ({name}); {RETRAIN}") \
                from None

    @classmethod
    def _from(cls, info: dict, arrays: dict, params: RouterParams) -> RouterArtifact:
        terms, bigrams = list(info["terms"]), list(info["passage_bigrams"])

        def words(key: str, table: list[str]) -> list[str]:
            idx = np.asarray(arrays[key])
            if idx.ndim != 1 or (idx.size and (idx.min() < 0 or idx.max() >= len(table))):
                raise ValueError(f"{key} indexes past the {len(table)} stored words")
            return [table[i] for i in idx.tolist()]

        models = {}
        for role, desc in info["models"].items():
            if role not in ROLES:
                raise ValueError(f"unknown model role {role!r}")
            shared = set(desc.get("shared_with_router") or ())

            def key(k, role=role, shared=shared):
                return f"router.{k}" if k in shared else f"{role}.{k}"

            arr = {k: arrays[key(k)] for k in ARRAYS}
            models[role] = LinearModel.from_arrays(params, words(key("vocab"), terms),
                                                   words(key("passage_vocab"), bigrams), arr, bool(desc["topic"]))
        if "router" not in models:
            raise ValueError("no 'router' model")
        student = None
        if info.get("student") is not None:
            s = {k: arrays[f"student.{k}"] for k in STUDENT_ARRAYS}
            student = TopicStudent(words("student.vocab", terms), s["idf"], s["term_coef"], s["bag_coef"],
                                   s["intercept"], info["student"]["weight"], info["student"].get("meta"))
        ids, table = np.asarray(arrays["vectors.ids"]), np.asarray(arrays["vectors.table"])
        if ids.ndim != 1 or table.ndim != 2 or len(ids) != len(table):
            raise ValueError(f"vectors: {ids.shape} ids for a table of {table.shape}")
        art = cls(params, models["router"], models.get("second_opinion"), student, ids, table,
                  info.get("vectors_signature"), info.get("topic_encoder"), info.get("meta") or {})
        art.check()
        return art

    def check(self) -> None:
        """Refuse parts that do not fit: vector blocks of another width than the vectors (+ topic columns), a
        student of another width, a second model without the encoder's topic, vectors without a signature."""
        vdim = self.vector_table.shape[1] if self.vector_table.size else 0
        student = self.student.dim if self.student is not None else 0
        if self.student is not None and self.student.bag_dim != vdim:
            raise ValueError(f"the topic student reads {self.student.bag_dim}-d vectors, the table holds {vdim}-d")
        topic = len(self.params.lexicon.prototypes)
        for role, m in (("router", self.model), ("second_opinion", self.second)):
            if m is None or not m.embedding_dim:
                continue
            want = vdim + student + (topic if m.topic else 0)
            if m.embedding_dim != want or not self.vectors_signature:
                raise ValueError(f"{role}: a {m.embedding_dim}-column vector block for {vdim}-d vectors, {student} "
                                 f"student and {topic if m.topic else 0} topic columns")
        if self.second is not None and (not self.second.topic or not self.topic_encoder):
            raise ValueError("the second opinion's model reads the encoder's topic block: it has none")
        if self.model.topic and not self.topic_encoder:
            raise ValueError("the router reads the encoder's topic block but names no encoder")


def verify_checksums(path: Path) -> None:
    """Refuse a router directory whose files are missing or differ from its ``SHA256SUMS``."""
    sums = path / SUMS
    if not sums.is_file():
        raise RouterArtifactError(f"{sums}: missing (every router directory carries the checksums of its files); "
                                  f"{RETRAIN}")
    want = {}
    for line in sums.read_text(encoding="utf-8", errors="replace").splitlines():
        digest, _, name = line.strip().partition("  ")
        if name:
            want[name] = digest
    for name in FILES:
        f = path / name
        if name not in want:
            raise RouterArtifactError(f"{sums}: names no checksum for {name}; {RETRAIN}")
        if not f.is_file():
            raise RouterArtifactError(f"{f}: missing; {RETRAIN}")
        if sha256_file(f) != want[name]:
            raise RouterArtifactError(f"{f}: changed since the router was saved (sha256 differs from {sums}); "
                                      f"{RETRAIN}")
