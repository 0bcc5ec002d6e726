"""The encoder's second opinion (``rag.router.second_opinion``): a second model with a sentence encoder's topic
block, asked only about questions without a passage and questions the router is unsure of, its logit averaged in;
saved in the router's artifact (one vector table, one vocabulary), refused when incomplete, off with
``router.second_opinion: false``."""
import json

import numpy as np
import pytest
from router_helpers import use_small_families

from common.config import EncoderConfig, RouterConfig
from rag.data import load_questions
from rag.router.artifact import RouterArtifact, RouterArtifactError
from rag.router.classifier import ClassifierRouter
from rag.router.model import has_passages, sigmoid
from rag.router.params import RouterParams
from rag.router.second_opinion import asks_second_opinion
from rag.router.topics import stem
from router_training.encoding import CachedTopicFeatures
from router_training.train import train_router
from router_training.writer import save_router, write_checksums


@pytest.fixture(scope="module")
def mixed(data_root, router_data):
    """``router_data`` (every row with a passage) and twelve CLIcK items without one, of both domains."""
    bare = []
    for sub, k in (("Culture/Korean Law", 6), ("Language/Grammar", 6)):
        bare += [q for q in load_questions(data_root / "exams/click" / sub, format="click") if not q.paragraph.strip()][:k]
    assert len(bare) == 12 and {q.domain for q in bare} == {"korean", "social"}
    return router_data + bare


@pytest.fixture
def topic(tiny_encoder_dir):
    """The encoder of the second opinion (a tiny local sentence-transformers model)."""
    return EncoderConfig(backend="sentence-transformers", model=str(tiny_encoder_dir), max_length=64)


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
    art = train_router(mixed, second_opinion=topic, stem_cache=tmp_path / "stems")
    assert art.second is not None and art.second.topic and not art.model.topic
    save_router(art, tmp_path / "r")
    info = json.loads((tmp_path / "r/router.json").read_text())
    assert sorted(info["models"]) == ["router", "second_opinion"] and info["topic_encoder"]["model"] == topic.model
    # one table of words and vectors for both models: each word stored once
    assert len(info["terms"]) == len(set(info["terms"])) and set(art.second.vocab) <= set(info["terms"])
    with np.load(tmp_path / "r/router.npz") as z:
        assert [k for k in z.files if k.startswith("vectors.")] == ["vectors.ids", "vectors.table"]
    router = ClassifierRouter(RouterConfig(name="classifier", model=str(tmp_path / "r")))
    assert router.second_features.vectors is router.features.vectors  # one Kiwi, one vector cache
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
    # the words alone where it is not asked; the weighted mean of the two logits where it is, which moves them
    np.testing.assert_allclose(p[~asked], sigmoid(d1[~asked]), atol=1e-12)
    d2 = router.artifact.second.decision(router.second_features([mixed[i] for i in np.flatnonzero(asked)]))
    w = RouterParams().second_opinion_weight
    np.testing.assert_allclose(p[asked], sigmoid((1 - w) * d1[asked] + w * d2), atol=1e-9)
    assert np.abs(p[asked] - sigmoid(d1[asked])).max() > 1e-3
    # the in-memory artifact routes the same as the one loaded back
    np.testing.assert_allclose(ClassifierRouter(RouterConfig(name="classifier"), artifact=art).p_social(mixed), p,
                               atol=1e-6)
    # a saved weight is what routing reads
    heavier = train_router(mixed, RouterParams(second_opinion_weight=0.9), second_opinion=topic,
                           stem_cache=tmp_path / "stems")
    q = ClassifierRouter(RouterConfig(name="classifier"), artifact=heavier).p_social(mixed)
    assert np.abs(np.array(q)[asked] - p[asked]).max() > 1e-3
    # router.second_opinion: false routes by the words alone, and never builds the encoder
    off = ClassifierRouter(RouterConfig(name="classifier", model=str(tmp_path / "r"), second_opinion=False))
    assert off.second_features is None
    np.testing.assert_allclose(off.p_social(mixed), sigmoid(d1), atol=1e-12)


def test_incomplete_second_opinions_are_refused(tmp_path, mixed, topic):
    art = train_router(mixed, second_opinion=topic, stem_cache=tmp_path / "stems")

    def saved_with(edit):
        save_router(art, tmp_path / "r")
        info = json.loads((tmp_path / "r/router.json").read_text())
        edit(info)
        (tmp_path / "r/router.json").write_text(json.dumps(info, ensure_ascii=False))
        write_checksums(tmp_path / "r")
        return tmp_path / "r"

    # a second model without the encoder's topic block, or without an encoder to compute it
    with pytest.raises(RouterArtifactError, match="second_opinion: a 272-column vector block .* 0 topic columns"):
        RouterArtifact.load(saved_with(lambda info: info["models"]["second_opinion"].update(topic=False)))
    with pytest.raises(RouterArtifactError, match="topic block"):
        RouterArtifact.load(saved_with(lambda info: info.update(topic_encoder=None)))
    # its arrays missing
    save_router(art, tmp_path / "r")
    with np.load(tmp_path / "r/router.npz") as z:
        arrays = {k: z[k] for k in z.files if k != "second_opinion.coef"}
    np.savez(tmp_path / "r/router.npz", **arrays)
    write_checksums(tmp_path / "r")
    with pytest.raises(RouterArtifactError, match="second_opinion.coef"):
        RouterArtifact.load(tmp_path / "r")
    # weights outside (0, 1] are refused
    with pytest.raises(ValueError, match="second_opinion_weight"):
        RouterParams(second_opinion_weight=0.0)


def test_training_stems_are_encoded_once(mixed, topic, tmp_path):
    """The stem vectors of a training call are cached (the shipped router's ~17,000 stems take ~8 min)."""
    params = RouterParams()
    topic = CachedTopicFeatures(topic, params.lexicon.prototypes, params.topic_weight, tmp_path / "stems")
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
    from eval.router import lofo

    use_small_families(monkeypatch, ("kice", "click-korean", "mmmlu", "click-social"))
    small = RouterParams(train_cap=40)
    plain = {r.family: r for r in lofo.leave_one_family_out(data_root, params=small)}
    with_second = {r.family: r for r in lofo.leave_one_family_out(data_root, params=small, second_opinion=topic,
                                                                  thresholds=(0.35,))}
    assert sorted(with_second) == sorted(plain) == ["click-korean", "click-social", "kice", "mmmlu"]
    # routed with another threshold inside the same folds: as a run with that router.threshold, the second model
    # asked where it would be asked at that threshold
    at = {r.family: r for r in lofo.leave_one_family_out(data_root, params=small, second_opinion=topic,
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
        lofo.leave_one_family_out(data_root, params=RouterParams(train_cap=40, embedding_weight=0.0),
                                  second_opinion=topic)


def test_cli_trains_with_a_second_opinion(tmp_path, data_root, tiny_encoder_dir, monkeypatch, capsys):
    from rag.data import write_jsonl
    from router_training.__main__ import main

    monkeypatch.setenv("CSAT_CACHE_DIR", str(tmp_path / "cache"))
    qs = load_questions(data_root / "competition/train.csv", labels=data_root / "competition/train_sources.csv")
    write_jsonl(qs[:30] + qs[-30:], tmp_path / "train.jsonl")
    assert main(["train", "--data", str(tmp_path / "train.jsonl"), "--out", str(tmp_path / "r"),
                 "--student", "none", "--second-opinion", "sentence-transformers",
                 "--encoder-model", str(tiny_encoder_dir)]) == 0
    assert RouterArtifact.load(tmp_path / "r").second is not None
    assert list((tmp_path / "cache/topic_stems").glob("*.npy"))
    with pytest.raises(SystemExit, match="2"):
        main(["train", "--data", str(tmp_path / "train.jsonl"), "--out", str(tmp_path / "x"),
              "--student", "none", "--second-opinion", "no-such-encoder"])
    assert "--second-opinion none" in capsys.readouterr().err
