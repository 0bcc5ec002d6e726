"""What the classifier router reads of a question (``rag.router.features``): the passage as bigrams and the
has-a-passage column held at a constant, the question-restates-its-passage cue, Kiwi's morpheme vectors, and the
opt-in topic block of a sentence encoder."""
import json

import numpy as np
import pytest
from router_helpers import assert_appended_columns_round_trip_and_weigh

from common.config import RouterConfig
from rag.data import load_questions
from rag.router.classifier import ClassifierRouter, TfidfLogReg
from rag.router.training import train_classifier


def test_the_passage_block_says_what_a_passage_is_about_not_that_there_is_one(data_root):
    """Fitted without the has-a-passage column, the passage bigrams learn "has a passage → 국어" by themselves
    (here every 국어 item has a passage, most 사회 items none): every passage pulls towards 국어. With the column,
    the shortcut is held there and routing leaves it at a constant."""
    from rag.router.classifier import has_passage
    from rag.router.families import FAMILIES, cap
    from rag.router.features import FeatureExtractor

    qs = []
    for name in ("klue-mrc", "kice", "kmmlu", "mmmlu", "click-social"):
        qs += cap(FAMILIES.get(name).load(data_root), 60)
    feats = FeatureExtractor(n_anchors=288)(qs)  # with Kiwi's morpheme vectors for the fits below
    y = [int(q.domain == "social") for q in qs]
    with_passage = [f for f in feats if f.passage_terms]
    assert 0.3 < has_passage(feats).mean() < 0.9

    def mean_pull(model):
        rows = [model.passage.row(f.passage_terms) for f in with_passage]
        return np.mean([model.passage_weight * float(w @ model.passage_coef[i]) for i, w in rows])

    plain = TfidfLogReg.fit(feats, y, passage_prior=None)
    held = TfidfLogReg.fit(feats, y, passage_prior=0.35)
    assert plain.passage_nuisance == 0.0 and held.passage_nuisance < -1.0
    assert mean_pull(plain) < -0.3 and abs(mean_pull(held)) < 0.6 * abs(mean_pull(plain))  # −0.39 → −0.18 here
    # routing holds the column at the prior: the decision is the fitted one with has-a-passage = 0.35 everywhere
    p_as_passage_less = 1 / (1 + np.exp(-(held.decision(feats) - held.passage_nuisance * 0.35)))
    assert np.all(held.predict_proba(feats) < p_as_passage_less)


def test_passage_is_read_as_bigrams_and_searched_for_the_choices(data_root):
    """The passage is not sent to Kiwi: its block is word-internal character bigrams (none without a passage — no
    "has no passage" term), and a choice's morphemes count as found in it whatever the PDF spacing."""
    from rag.router.features import FeatureExtractor, passage_bigrams

    assert passage_bigrams("경제성장률이 올랐다. GDP 3% 늘") == [
        "p:경제", "p:제성", "p:성장", "p:장률", "p:률이", "p:올랐", "p:랐다", "p:GD", "p:DP", "p:늘"]
    q = load_questions(data_root / "competition/train.csv")[0]
    spaced = q.model_copy(update={"paragraph": "기 후 변 화 협약과 탄 소 배출권 거래",
                                  "choices": ["기후 변화", "탄소 배출권", "국어 문법", "중세 국어 표기"]})
    bare = spaced.model_copy(update={"paragraph": ""})
    fs, fb = FeatureExtractor()([spaced, bare])
    assert fs.passage_terms == passage_bigrams(spaced.paragraph) and fb.passage_terms == []
    assert fs.dense[1] == 1.0 and fs.dense[2] == 0.0  # 기후/변화 found across the stray spaces; 문법 not
    assert fb.dense[1] < fs.dense[1]


def test_a_question_that_restates_its_passage_reads_as_extractive(data_root):
    """question_in_passage: the share of the question's own content words (two letters or more) found in the
    passage — high where the question restates a sentence of it, 0 for a label like 갑 or (가), 0 without one."""
    from rag.router.features import DENSE_NAMES, FeatureExtractor

    i, hi = DENSE_NAMES.index("question_in_passage"), DENSE_NAMES.index("question_in_passage_high")
    q = load_questions(data_root / "competition/train.csv")[0]
    passage = "지난 3월 은행 예금회전율이 최근 3년 사이 가장 높은 수준으로 상승했다. 갑은 (가)를 주장했다."
    restating = q.model_copy(update={"paragraph": passage, "question_plus": "",
                                     "question": "3월 은행 예금회전율이 상승한 이유는 무엇인가?"})
    asking = restating.model_copy(update={"question": "갑이 (가)에 대해 취할 입장으로 옳은 것은?"})
    bare = restating.model_copy(update={"paragraph": ""})
    boxed = restating.model_copy(update={"question": "<보기>를 참고할 때 윗글의 이해로 옳은 것은?",
                                         "question_plus": "은행 예금회전율이 상승했다."})  # <보기> words don't count
    fr, fa, fb, fx = FeatureExtractor()([restating, asking, bare, boxed])
    assert fr.dense[i] >= 0.75 and fr.dense[hi] == 1.0  # 은행, 예금회전율, 상승 found; 이유 not
    assert fa.dense[i] == fb.dense[i] == fx.dense[i] == 0.0 and fa.dense[hi] == fb.dense[hi] == 0.0
    assert "q:은행/NN" in fx.terms  # the <보기> still speaks in the term block


def test_kiwi_morpheme_vectors_reproduce_kiwi_and_place_unseen_words():
    """Vectors recovered from Kiwi's similarities: their dot products are Kiwi's cosine similarities, a grammar
    word lies nearer grammar than marketing, and a word Kiwi does not know gets no vector."""
    from kiwipiepy import Kiwi

    from rag.router.vectors import MorphemeVectors

    kiwi = Kiwi()
    vec = MorphemeVectors(kiwi)
    assert 240 < vec.dim <= 256 and len(vec.signature) == 16
    words = ["접미사", "파생어", "마케팅", "고객", "피동문", "맥스타일뷁"]
    tok = {w: ts[0] for w, ts in zip(words, kiwi.tokenize(words))}
    assert all(t.form == w for w, t in tok.items())
    v = {w: vec.of(t) for w, t in tok.items()}
    for a, b in (("접미사", "파생어"), ("접미사", "마케팅"), ("마케팅", "고객"), ("피동문", "파생어")):
        assert abs(float(v[a] @ v[b]) - kiwi.morpheme_similarity(tok[a].id, tok[b].id)) < 0.01, (a, b)
    assert v["접미사"] @ v["파생어"] > v["접미사"] @ v["마케팅"] + 0.2
    assert v["마케팅"] @ v["고객"] > v["마케팅"] @ v["파생어"]
    assert v["맥스타일뷁"] is None  # an unknown word: Kiwi's placeholder id is not its morpheme
    # a dictionary word outside Kiwi's language model: Kiwi's similarity is nan, so no vector (not a nan one)
    from types import SimpleNamespace

    far = next(i for i in range(150_000, 400_000, 997) if kiwi.morpheme(i) is not None
               and not np.isfinite(kiwi.morpheme_similarity(i, 5)))
    assert vec.of(SimpleNamespace(id=far, form=kiwi.morpheme(far).form)) is None
    bag = vec.bag(list(tok.values()))
    assert abs(float(np.linalg.norm(bag)) - 1) < 1e-9
    assert not np.any(vec.bag([tok["맥스타일뷁"]]))


def test_router_with_vectors_from_another_kiwi_model_is_refused(tmp_path, router_data):
    model = train_classifier(router_data)
    assert model.meta["n_anchors"] > 0 and model.meta["vectors_signature"]
    model.save(tmp_path / "ok")  # the training vocabulary's vectors travel with the router: loading computes none
    loaded = ClassifierRouter(RouterConfig(name="classifier", model=str(tmp_path / "ok")))
    assert len(model.vector_ids) > 500 and model.vector_table.dtype == np.float16
    assert len(loaded.features.vectors._cache) == len(model.vector_ids)
    np.testing.assert_allclose(loaded.p_social(router_data), model.predict_proba(loaded.features(router_data)),
                               atol=1e-12)
    z = dict(np.load(tmp_path / "ok/router.npz", allow_pickle=False))
    z["embedding_coef"] = z["embedding_coef"][: len(z["embedding_coef"]) // 2]  # one block: not what this writes
    np.savez(tmp_path / "ok/router.npz", **z)
    with pytest.raises(ValueError, match="two blocks expected"):
        TfidfLogReg.load(tmp_path / "ok")
    model.save(tmp_path / "gated")
    z = dict(np.load(tmp_path / "gated/router.npz", allow_pickle=False))
    z["gated_coef"] = z["gated_coef"][:-1]
    np.savez(tmp_path / "gated/router.npz", **z)
    with pytest.raises(ValueError, match="gated term coefficients"):
        TfidfLogReg.load(tmp_path / "gated")
    model.meta["vectors_signature"] = "0000000000000000"
    model.save(tmp_path)
    with pytest.raises(ValueError, match="another Kiwi model"):
        ClassifierRouter(RouterConfig(name="classifier", model=str(tmp_path)))
    plain = train_classifier(router_data, embedding_weight=0, gated_weight=0)  # TF-IDF and cues only
    assert plain.embedding_coef.size == 0 and plain.meta["n_anchors"] == 0 and plain.gated_coef.size == 0
    plain.save(tmp_path / "plain")
    r = ClassifierRouter(RouterConfig(name="classifier", model=str(tmp_path / "plain")))
    assert r.features.vectors is None and len(r.p_social(router_data[:5])) == 5


def test_opt_in_topic_block_round_trips_and_is_weighed(tmp_path, router_data, tiny_encoder_dir):
    """The sentence-encoder topic block (``--topic-encoder``): fitted with the morpheme vectors, saved with the
    encoder named in the meta, rebuilt on load to the same probabilities; its columns carry weight."""
    from pathlib import Path

    from common.config import EncoderConfig
    from rag.router.lofo import leave_one_family_out
    from rag.router.topics import PROTOTYPES, TopicFeatures

    cfg = EncoderConfig(backend="sentence-transformers", model=str(tiny_encoder_dir), max_length=64)
    topic = TopicFeatures(cfg)
    with pytest.raises(ValueError, match="morpheme vectors"):
        train_classifier(router_data, embedding_weight=0.0, topic=topic)
    with pytest.raises(ValueError, match="morpheme vectors"):
        leave_one_family_out(Path("unused"), embedding_weight=0.0, topic=topic)
    model = train_classifier(router_data, topic=topic)
    model.save(tmp_path)
    meta = json.loads((tmp_path / "router.json").read_text())["meta"]
    assert meta["topic"]["backend"] == "sentence-transformers" and meta["topic"]["prototypes"] == list(PROTOTYPES)
    router = ClassifierRouter(RouterConfig(name="classifier", model=str(tmp_path)))
    assert router.features.topic is not None and router.features.topic.dim == len(PROTOTYPES)
    # the topic columns are carried, give the same probabilities after loading, and move the decision
    assert_appended_columns_round_trip_and_weigh(model, router, router_data, len(PROTOTYPES))
    # a saved router whose meta names other prototypes than its coefficients were fitted on is refused
    bad = json.loads((tmp_path / "router.json").read_text())
    bad["meta"]["topic"]["prototypes"] = bad["meta"]["topic"]["prototypes"][:-1]
    (tmp_path / "router.json").write_text(json.dumps(bad, ensure_ascii=False))
    with pytest.raises(ValueError, match="topic columns"):
        TfidfLogReg.load(tmp_path)


def test_term_dropout_makes_the_fit_weigh_what_is_not_a_term(data_root):
    """The terms alone separate the training families, so a plain fit leaves the other features near zero; the
    copy of every row with half its terms dropped (``drop_terms``) has to be routed by the rest too."""
    from rag.router.classifier import drop_terms
    from rag.router.families import FAMILIES, cap
    from rag.router.features import FeatureExtractor

    qs = []
    for name in ("klue-mrc", "kice", "click-korean", "kmmlu", "mmmlu", "click-social"):
        qs += cap(FAMILIES.get(name).load(data_root), 50)
    feats = FeatureExtractor(n_anchors=288)(qs)  # with Kiwi's morpheme vectors for the fits below
    y = [int(q.domain == "social") for q in qs]
    dropped = drop_terms(feats, 0.5, seed=3)
    assert dropped[0] is not feats[0] and [f.terms for f in drop_terms(feats, 0.5, seed=3)] == [f.terms for f in dropped]
    kept = sum(len(d.terms) for d in dropped) / sum(len(f.terms) for f in feats)
    assert 0.4 < kept < 0.6
    for f, d in zip(feats, dropped):
        assert set(d.terms) <= set(f.terms) and d.passage_terms == f.passage_terms
        assert np.array_equal(d.dense, f.dense)
    assert [f.terms for f in drop_terms(feats, 0.0)] == [f.terms for f in feats]
    assert all(not d.terms for d in drop_terms(feats, 1.0))
    with pytest.raises(ValueError, match="probability"):
        drop_terms(feats, 1.5)

    # the morpheme vectors (what generalises to a word no family used): the fit with the copies weighs them more
    block = TfidfLogReg._embeddings(feats, len(feats[0].embedding))

    def vector_pull(model):
        """Mean |vector-block contribution| to the training rows' decisions."""
        return np.abs(model.embedding_weight * (block @ model.embedding_coef)).mean()

    plain = TfidfLogReg.fit(feats, y, term_dropout=0.0, embedding_weight=1.5, gated_weight=2.0)
    with_copies = TfidfLogReg.fit(feats, y, embedding_weight=1.5, gated_weight=2.0)
    assert vector_pull(with_copies) > 1.1 * vector_pull(plain)  # 2.59 → 3.16 here


def test_the_exams_instruction_words_are_never_terms(data_root):
    """Each family words its instructions its own way (KICE "적절한", KMMLU "옳은", CLIcK "고르십시오"), so the words
    separated the families and sent real 수능 윤리·법 items ("… 적절한 것만을 <보기>에서 고른 것은?") to 국어: the
    same question asked in another family's wording gets the same terms, and its content words stay."""
    from rag.router.families import FAMILIES
    from rag.router.features import INSTRUCTION_WORDS, FeatureExtractor

    fx = FeatureExtractor()
    real = next(q for q in FAMILIES.get("ksat-social").load(data_root) if "법적 판단만을" in q.question)
    wordings = ["다음 사례에 대한 옳은 법적 판단만을 <보기>에서 있는 대로 고른 것은?",
                "다음 사례에 대한 법적 판단으로 가장 적절한 것을 고르십시오.",
                "밑줄 친 사례에 대해 법적 판단으로 옳지 않은 것은 무엇인가?"]
    feats = fx([real.model_copy(update={"question": w}) for w in wordings])
    terms = [set(f.terms) for f in feats]
    assert terms[0] == terms[1] == terms[2]
    assert {"q:법/NN", "q:판단/NN", "q:사례/NN"} <= terms[0]  # what the question is about stays
    assert not any(t[2:].rsplit("/", 1)[0] in INSTRUCTION_WORDS for f in feats for t in f.terms)
