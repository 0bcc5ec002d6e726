"""The topic student (``rag.router.student``, built by ``router_training.student``): a sentence encoder's topic of knowledge-base snippets,
distilled by ridge regression into the router's terms and morpheme vectors — its corpus, its fit, its cache,
and the router that carries it (saved, loaded, weighed)."""
import json

import numpy as np
import pytest
from router_helpers import assert_appended_columns_round_trip_and_weigh

from common.config import EncoderConfig, RouterConfig
from rag.router.artifact import RouterArtifact, RouterArtifactError
from rag.router.classifier import ClassifierRouter
from rag.router.features import FeatureExtractor
from rag.router.params import RouterParams
from router_training.student import (
    KOBEST_TASKS,
    build_student,
    encode_targets,
    fit_student,
    student_corpus,
    text_terms_and_bags,
)
from router_training.train import train_router
from router_training.writer import save_router, write_checksums

PROTOTYPES = RouterParams().lexicon.prototypes

SMALL = {"n_wiki": 60, "per_language_article": 1, "kobest_per_task": 8, "n_statutes": 20}


def test_student_corpus_reads_every_source_deterministically(data_root, tmp_path):
    pairs = student_corpus(data_root, **SMALL)
    by = {}
    for src, text in pairs:
        by[src] = by.get(src, 0) + 1
        assert 15 <= len(text) <= 150 or src in ("kobest", "statute")
    assert by["wiki"] == 60 and by["statute"] == 20 and 0 < by["kobest"] <= 8 * len(KOBEST_TASKS)
    assert 0 < by["wiki-language"] <= 63  # one sentence of each article about language itself
    assert student_corpus(data_root, **SMALL) == pairs
    assert student_corpus(data_root, **SMALL, seed=1) != pairs
    with pytest.raises(FileNotFoundError, match="kowiki_social_2020"):
        student_corpus(tmp_path)


@pytest.fixture(scope="module")
def tiny_student(data_root, tiny_encoder_dir, tmp_path_factory):
    cfg = EncoderConfig(backend="sentence-transformers", model=str(tiny_encoder_dir), max_length=64)
    cache = tmp_path_factory.mktemp("student_cache")
    return build_student(data_root, cfg, FeatureExtractor(), corpus=SMALL, cache_dir=cache, progress=False), cfg, cache


def test_student_fits_the_encoder_topic_and_caches_the_encoding(data_root, tiny_student, monkeypatch):
    student, cfg, cache = tiny_student
    assert student.dim == len(PROTOTYPES) and student.bag_dim == 255 and len(student.tfidf.vocab) > 100
    assert student.meta["by_source"]["wiki"] == 60 and "held_out_r2" in student.meta
    texts = [s for _, s in student_corpus(data_root, **SMALL)]
    targets = encode_targets(texts, cfg, PROTOTYPES, cache)
    assert targets.shape == (len(texts), len(PROTOTYPES)) and len(list(cache.glob("*.npy"))) == 1
    # in sample, the student reproduces the encoder's topic from the words and vectors alone
    fx = FeatureExtractor()
    terms, bags = text_terms_and_bags(fx, texts[:80])
    pred = np.stack([student(t, b) for t, b in zip(terms, bags)]) / student.weight
    gold = targets[:80]
    assert np.corrcoef(pred.ravel(), gold.ravel())[0, 1] > 0.6
    # the second time, the encoding comes from the cache: the encoder is never asked
    import knowledge_base.encoders as enc

    made = enc.make_encoder(cfg)
    monkeypatch.setattr(made, "encode_queries", lambda texts: pytest.fail("encoded again despite the cache"))
    monkeypatch.setattr(enc, "make_encoder", lambda c: made)
    np.testing.assert_array_equal(encode_targets(texts, cfg, PROTOTYPES, cache), targets)
    with pytest.raises(ValueError, match="10 or more"):
        fit_student(texts[:3], targets[:3], fx, RouterParams())


def test_router_carries_the_student_saved_loaded_and_weighed(tmp_path, router_data, tiny_student):
    student = tiny_student[0]
    with pytest.raises(ValueError, match="embedding_weight"):
        train_router(router_data, RouterParams(embedding_weight=0.0), student=student)
    with pytest.raises(ValueError, match="morpheme vectors"):
        FeatureExtractor(RouterParams(n_anchors=0), student=student)
    art = train_router(router_data, student=student)
    save_router(art, tmp_path / "r")
    info = json.loads((tmp_path / "r/router.json").read_text())
    assert info["student"]["weight"] == student.weight and set(student.tfidf.vocab) <= set(info["terms"])
    router = ClassifierRouter(RouterConfig(name="classifier", model=str(tmp_path / "r")))
    assert router.features.student is not None and router.features.student.tfidf.vocab == student.tfidf.vocab
    # the student's columns are carried, give the same probabilities after loading, and move the decision
    assert_appended_columns_round_trip_and_weigh(art.model, router, router_data, student.dim)

    # a router naming a student whose arrays are missing is refused, with the array named
    import shutil

    shutil.copytree(tmp_path / "r", tmp_path / "bad")
    with np.load(tmp_path / "r/router.npz") as z:
        np.savez(tmp_path / "bad/router.npz", **{k: z[k] for k in z.files if not k.startswith("student.")})
    write_checksums(tmp_path / "bad")
    with pytest.raises(RouterArtifactError, match="student"):
        RouterArtifact.load(tmp_path / "bad")
    # and one without the student's record but with the columns it fitted (unaccounted for)
    info["student"] = None
    (tmp_path / "bad/router.json").write_text(json.dumps(info, ensure_ascii=False))
    shutil.copy(tmp_path / "r/router.npz", tmp_path / "bad/router.npz")
    write_checksums(tmp_path / "bad")
    with pytest.raises(RouterArtifactError, match="column vector block"):
        RouterArtifact.load(tmp_path / "bad")
