"""The encoder's second opinion (``rag.router.second_opinion``): a second model with a sentence encoder's topic
block, asked only about questions without a passage and questions the router is unsure of, its logit averaged in;
saved inside the router, refused when incomplete, off with ``router.second_opinion: false``."""
import json
import shutil

import numpy as np
import pytest
from router_helpers import use_small_families

from common.config import EncoderConfig, RouterConfig
from rag.data import load_questions
from rag.router.classifier import ClassifierRouter, TfidfLogReg
from rag.router.second_opinion import (
    SECOND_OPINION_WEIGHT,
    SUBDIR,
    asks_second_opinion,
    has_passages,
    sigmoid,
)
from rag.router.topics import TopicFeatures, stem
from rag.router.training import train_classifier


@pytest.fixture(scope="module")
def mixed(data_root, router_data):
    """``router_data`` (every row with a passage) and twelve CLIcK items without one, of both domains."""
    bare = []
    for sub, k in (("Culture/Korean Law", 6), ("Language/Grammar", 6)):
        bare += [q for q in load_questions(data_root / "exams/click" / sub, format="click") if not q.paragraph.strip()][:k]
    assert len(bare) == 12 and {q.domain for q in bare} == {"korean", "social"}
    return router_data + bare


@pytest.fixture
def topic(tiny_encoder_dir, tmp_path):
    cfg = EncoderConfig(backend="sentence-transformers", model=str(tiny_encoder_dir), max_length=64)
    return TopicFeatures(cfg, cache_dir=tmp_path / "stems")


def _recording(router: ClassifierRouter) -> list[str]:
    """Stems the router's second-opinion encoder reads from now on."""
    enc, seen = router.second_features.topic.encoder, []
    encode = enc.encode_queries

    def record(texts):
        seen.extend(texts)
        return encode(texts)

    enc.encode_queries = record
    return seen


def test_second_opinion_is_asked_only_where_the_words_tell_least(tmp_path, mixed, topic):
    model = train_classifier(mixed, second_opinion=topic)
    assert model.second is not None and model.second.meta["topic"] and model.second_weight == SECOND_OPINION_WEIGHT
    model.save(tmp_path / "r")
    assert json.loads((tmp_path / "r/router.json").read_text())["meta"]["second_opinion"] == {
        "weight": SECOND_OPINION_WEIGHT}
    router = ClassifierRouter(RouterConfig(name="classifier", model=str(tmp_path / "r")))
    seen = _recording(router)
    p = np.array(router.p_social(mixed))
    encoded = list(seen)

    feats = router.features(mixed)
    d1, cov = router.model.decision(feats), router.model.coverage(feats)
    bare = ~has_passages(feats)
    asked = asks_second_opinion(has_passages(feats), d1, cov, router.cfg)
    assert bare.sum() == 12 and asked[bare].all() and not asked.all()
    # the encoder read the asked questions' stems only
    assert sorted(encoded) == sorted(stem(mixed[i]) for i in np.flatnonzero(asked))
    # the words alone where it is not asked; the mean of the two logits where it is, which moves them
    np.testing.assert_allclose(p[~asked], sigmoid(d1[~asked]), atol=1e-12)
    d2 = router.model.second.decision(router.second_features([mixed[i] for i in np.flatnonzero(asked)]))
    w = SECOND_OPINION_WEIGHT
    np.testing.assert_allclose(p[asked], sigmoid((1 - w) * d1[asked] + w * d2), atol=1e-9)
    assert np.abs(p[asked] - sigmoid(d1[asked])).max() > 1e-3
    # the in-memory model routes the same as the one loaded back
    np.testing.assert_allclose(ClassifierRouter(RouterConfig(name="classifier"), model=model).p_social(mixed), p,
                               atol=1e-9)
    # router.second_opinion: false routes by the words alone, and never builds the encoder
    off = ClassifierRouter(RouterConfig(name="classifier", model=str(tmp_path / "r"), second_opinion=False))
    assert off.second_features is None
    np.testing.assert_allclose(off.p_social(mixed), sigmoid(d1), atol=1e-12)


def test_incomplete_second_opinions_are_refused_and_stale_ones_removed(tmp_path, mixed, topic):
    model = train_classifier(mixed, second_opinion=topic)
    model.save(tmp_path / "r")
    # the meta names a second model that is not there
    shutil.rmtree(tmp_path / "r" / SUBDIR)
    with pytest.raises(ValueError, match="second-opinion model"):
        TfidfLogReg.load(tmp_path / "r")
    # a second model without the encoder's topic block
    model.save(tmp_path / "r")
    train_classifier(mixed).save(tmp_path / "plain")
    shutil.rmtree(tmp_path / "r" / SUBDIR)
    shutil.copytree(tmp_path / "plain", tmp_path / "r" / SUBDIR)
    with pytest.raises(ValueError, match="topic block"):
        TfidfLogReg.load(tmp_path / "r")
    # a router without a second opinion saved over one with it leaves no stale model behind
    train_classifier(mixed).save(tmp_path / "r")
    assert not (tmp_path / "r" / SUBDIR).exists() and TfidfLogReg.load(tmp_path / "r").second is None
    # weights outside (0, 1] are refused
    with pytest.raises(ValueError, match=r"in \(0, 1\]"):
        train_classifier(mixed, second_opinion=topic, second_weight=0.0)


def test_training_stems_are_encoded_once(mixed, topic):
    """The stem vectors of a training call are cached (the shipped router's ~17,000 stems take ~8 min)."""
    calls = []
    encode = topic.encoder.encode_queries
    topic.encoder.encode_queries = lambda texts: calls.append(len(texts)) or encode(texts)
    first = topic(mixed)
    second = topic(mixed)
    assert calls == [len(mixed)] and np.array_equal(first, second)
    assert len(list(topic.cache_dir.glob("*.npy"))) == 1
    topic(mixed[:5])  # other stems: encoded
    assert calls == [len(mixed), 5]


def test_leave_one_family_out_with_the_second_opinion(data_root, monkeypatch, topic):
    """The folds fit the second model too and route each left-out family as the router does."""
    from rag.router import lofo

    use_small_families(monkeypatch, ("kice", "click-korean", "mmmlu", "click-social"))
    plain = {r.family: r for r in lofo.leave_one_family_out(data_root, train_cap=40)}
    with_second = {r.family: r for r in lofo.leave_one_family_out(data_root, train_cap=40, second_opinion=topic,
                                                                  thresholds=(0.35,))}
    assert sorted(with_second) == sorted(plain) == ["click-korean", "click-social", "kice", "mmmlu"]
    # routed with another threshold inside the same folds: as a run with that router.threshold, the second model
    # asked where it would be asked at that threshold
    at = {r.family: r for r in lofo.leave_one_family_out(data_root, train_cap=40, second_opinion=topic,
                                                         cfg=RouterConfig(name="classifier", threshold=0.35))}
    for n, r in with_second.items():
        assert np.allclose(r.scores[0.35][0], at[n].scores[0.35][0]), n
        assert float(np.mean((r.scores[0.35][0] >= 0.35) == (r.domain == "social"))) == at[n].accuracy
    assert all(r.n == 40 and 0 <= r.accuracy <= 1 for r in with_second.values())
    assert with_second["mmmlu"].changed_count_social is not None
    # CLIcK's passage-less items are asked: their routes are not the words-alone routes in every fold
    assert any(abs(with_second[n].accuracy - plain[n].accuracy) > 0 or
               abs(with_second[n].routed_social - plain[n].routed_social) > 0 for n in ("click-korean", "click-social"))
    with pytest.raises(ValueError, match="morpheme vectors"):
        lofo.leave_one_family_out(data_root, train_cap=40, embedding_weight=0.0, second_opinion=topic)


def test_cli_trains_with_a_second_opinion(tmp_path, data_root, tiny_encoder_dir, monkeypatch, capsys):
    from rag.data import write_jsonl
    from rag.router.__main__ import main

    monkeypatch.setenv("CSAT_CACHE_DIR", str(tmp_path / "cache"))
    qs = load_questions(data_root / "competition/train.csv", labels=data_root / "competition/train_sources.csv")
    write_jsonl(qs[:30] + qs[-30:], tmp_path / "train.jsonl")
    assert main(["train", "--data", str(tmp_path / "train.jsonl"), "--out", str(tmp_path / "r"),
                 "--topic-student", "none", "--second-opinion", "sentence-transformers",
                 "--second-opinion-model", str(tiny_encoder_dir)]) == 0
    assert TfidfLogReg.load(tmp_path / "r").second is not None
    assert list((tmp_path / "cache/topic_stems").glob("*.npy"))
    with pytest.raises(SystemExit, match="1"):
        main(["train", "--data", str(tmp_path / "train.jsonl"), "--out", str(tmp_path / "x"),
              "--topic-student", "none", "--second-opinion", "no-such-encoder"])
    assert "--second-opinion none" in capsys.readouterr().err
