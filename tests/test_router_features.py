"""What the classifier router reads of a question (``rag.router.features``): the passage as bigrams and the
has-a-passage column held at a constant, the question-restates-its-passage cue, Kiwi's morpheme vectors, and the
opt-in topic block of a sentence encoder."""
import json

import numpy as np
import pytest
from router_helpers import assert_appended_columns_round_trip_and_weigh

from common.config import RouterConfig
from rag.data import load_questions
from rag.router.artifact import RouterArtifact, RouterArtifactError
from rag.router.classifier import ClassifierRouter
from rag.router.features import FeatureExtractor
from rag.router.params import RouterParams
from router_training.fit import fit_linear
from router_training.train import train_router
from router_training.writer import save_router

#: the words alone: no morpheme vectors (fast)
WORDS = RouterParams(n_anchors=0, embedding_weight=0)


def test_the_passage_block_says_what_a_passage_is_about_not_that_there_is_one(data_root):
    """Fitted without the has-a-passage column, the passage bigrams learn "has a passage → 국어" by themselves
    (here every 국어 item has a passage, most 사회 items none): every passage pulls towards 국어. With the column,
    the shortcut is held there and routing leaves it at a constant."""
    from rag.router.model import has_passages
    from router_training.families import FAMILIES, cap

    qs = []
    for name in ("klue-mrc", "kice", "kmmlu", "mmmlu", "click-social"):
        qs += cap(FAMILIES.get(name).load(data_root), 60)
    feats = FeatureExtractor(WORDS)(qs)
    y = [int(q.domain == "social") for q in qs]
    with_passage = [f for f in feats if f.passage_terms]
    assert 0.3 < has_passages(feats).mean() < 0.9

    def mean_pull(model):
        pulls = model.passage.dot([f.passage_terms for f in with_passage], model.passage_coef)
        return np.mean(model.params.passage_weight * pulls)

    words = WORDS.model_copy(update={"gated_weight": 0.0})
    plain = fit_linear(feats, y, None, words.model_copy(update={"passage_prior": None}))
    held = fit_linear(feats, y, None, words.model_copy(update={"passage_prior": 0.35}))
    assert plain.passage_nuisance == 0.0 and held.passage_nuisance < -1.0
    assert mean_pull(plain) < -0.3 and abs(mean_pull(held)) < 0.6 * abs(mean_pull(plain))  # −0.39 → −0.18 here
    # routing holds the column at the prior: the decision is the fitted one with has-a-passage = 0.35 everywhere
    p_as_passage_less = 1 / (1 + np.exp(-(held.decision(feats) - held.passage_nuisance * 0.35)))
    assert np.all(held.predict_proba(feats) < p_as_passage_less)


def test_passage_is_read_as_bigrams_and_searched_for_the_choices(data_root):
    """The passage is not sent to Kiwi: its block is word-internal character bigrams (none without a passage — no
    "has no passage" term), and a choice's morphemes count as found in it whatever the PDF spacing."""
    from rag.router.features import passage_bigrams

    assert passage_bigrams("경제성장률이 올랐다. GDP 3% 늘") == [
        "p:경제", "p:제성", "p:성장", "p:장률", "p:률이", "p:올랐", "p:랐다", "p:GD", "p:DP", "p:늘"]
    q = load_questions(data_root / "competition/train.csv")[0]
    spaced = q.model_copy(update={"paragraph": "기 후 변 화 협약과 탄 소 배출권 거래",
                                  "choices": ["기후 변화", "탄소 배출권", "국어 문법", "중세 국어 표기"]})
    bare = spaced.model_copy(update={"paragraph": ""})
    fs, fb = FeatureExtractor(WORDS)([spaced, bare])
    assert fs.passage_terms == passage_bigrams(spaced.paragraph) and fb.passage_terms == []
    assert fs.dense[1] == 1.0 and fs.dense[2] == 0.0  # 기후/변화 found across the stray spaces; 문법 not
    assert fb.dense[1] < fs.dense[1]


def test_a_question_that_restates_its_passage_reads_as_extractive(data_root):
    """question_in_passage: the share of the question's own content words (two letters or more) found in the
    passage — high where the question restates a sentence of it, 0 for a label like 갑 or (가), 0 without one."""
    from rag.router.features import DENSE_NAMES

    i, hi = DENSE_NAMES.index("question_in_passage"), DENSE_NAMES.index("question_in_passage_high")
    q = load_questions(data_root / "competition/train.csv")[0]
    passage = "지난 3월 은행 예금회전율이 최근 3년 사이 가장 높은 수준으로 상승했다. 갑은 (가)를 주장했다."
    restating = q.model_copy(update={"paragraph": passage, "question_plus": "",
                                     "question": "3월 은행 예금회전율이 상승한 이유는 무엇인가?"})
    asking = restating.model_copy(update={"question": "갑이 (가)에 대해 취할 입장으로 옳은 것은?"})
    bare = restating.model_copy(update={"paragraph": ""})
    boxed = restating.model_copy(update={"question": "<보기>를 참고할 때 윗글의 이해로 옳은 것은?",
                                         "question_plus": "은행 예금회전율이 상승했다."})  # <보기> words don't count
    fr, fa, fb, fx = FeatureExtractor(WORDS)([restating, asking, bare, boxed])
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
    art = train_router(router_data)
    assert art.params.n_anchors > 0 and art.vectors_signature
    save_router(art, tmp_path / "ok")  # the training vocabulary's vectors travel with the router: loading computes none
    loaded = ClassifierRouter(RouterConfig(name="classifier", model=str(tmp_path / "ok")))
    assert len(art.vector_ids) > 100 and art.vector_table.dtype == np.float16  # morphemes of 2+ training questions
    assert len(loaded.features.vectors._cache) == len(art.vector_ids)
    np.testing.assert_allclose(loaded.p_social(router_data), art.model.predict_proba(loaded.features(router_data)),
                               atol=1e-6)
    from router_training.writer import write_checksums

    for key, cut, match in (("router.embedding_coef", lambda a: a[: len(a) // 2], "embedding_coef: 255 coefficients"),
                            ("router.gated_coef", lambda a: a[:-1], "gated_coef: .* coefficients"),
                            ("vectors.table", lambda a: a[:, :-1], "column vector block")):
        bad = tmp_path / key
        save_router(art, bad)
        z = dict(np.load(bad / "router.npz", allow_pickle=False))
        z[key] = cut(z[key])
        np.savez(bad / "router.npz", **z)
        write_checksums(bad)  # re-stamped
        with pytest.raises(RouterArtifactError, match=match):
            RouterArtifact.load(bad)
    art.vectors_signature = "0000000000000000"
    save_router(art, tmp_path / "other")
    with pytest.raises(ValueError, match="another Kiwi model"):
        ClassifierRouter(RouterConfig(name="classifier", model=str(tmp_path / "other")))
    plain = train_router(router_data, RouterParams(embedding_weight=0, gated_weight=0))  # TF-IDF and cues only
    assert plain.model.embedding_coef.size == 0 and plain.vector_ids.size == 0 and plain.model.gated_coef.size == 0
    save_router(plain, tmp_path / "plain")
    r = ClassifierRouter(RouterConfig(name="classifier", model=str(tmp_path / "plain")))
    assert r.features.vectors is None and len(r.p_social(router_data[:5])) == 5


def test_opt_in_topic_block_round_trips_and_is_weighed(tmp_path, router_data, tiny_encoder_dir):
    """The sentence-encoder topic block on the router itself (``--topic-encoder``): fitted with the morpheme
    vectors, saved with the encoder named in the artifact, rebuilt on load to the same probabilities; its columns
    carry weight."""
    from pathlib import Path

    from common.config import EncoderConfig
    from eval.router.lofo import leave_one_family_out

    cfg = EncoderConfig(backend="sentence-transformers", model=str(tiny_encoder_dir), max_length=64)
    prototypes = RouterParams().lexicon.prototypes
    with pytest.raises(ValueError, match="morpheme vectors"):
        train_router(router_data, RouterParams(embedding_weight=0.0), first_topic=cfg)
    with pytest.raises(ValueError, match="morpheme vectors"):
        leave_one_family_out(Path("unused"), params=RouterParams(embedding_weight=0.0), topic=cfg)
    art = train_router(router_data, first_topic=cfg)
    save_router(art, tmp_path)
    info = json.loads((tmp_path / "router.json").read_text())
    assert info["topic_encoder"]["backend"] == "sentence-transformers" and info["models"]["router"]["topic"]
    assert info["params"]["lexicon"]["prototypes"] == list(prototypes)
    router = ClassifierRouter(RouterConfig(name="classifier", model=str(tmp_path)))
    assert router.features.topic is not None and router.features.topic.dim == len(prototypes)
    # the topic columns are carried, give the same probabilities after loading, and move the decision
    assert_appended_columns_round_trip_and_weigh(art.model, router, router_data, len(prototypes))
    # a saved router whose settings name other prototypes than its coefficients were fitted on is refused
    from router_training.writer import write_checksums

    info["params"]["lexicon"]["prototypes"] = info["params"]["lexicon"]["prototypes"][:-1]
    (tmp_path / "router.json").write_text(json.dumps(info, ensure_ascii=False))
    write_checksums(tmp_path)
    with pytest.raises(RouterArtifactError, match="topic columns"):
        RouterArtifact.load(tmp_path)


def test_term_dropout_makes_the_fit_weigh_what_is_not_a_term(data_root):
    """The terms alone separate the training families, so a plain fit leaves the other features near zero; the
    copy of every row with half its terms dropped (``drop_terms``) has to be routed by the rest too."""
    from rag.router.model import embeddings
    from router_training.families import FAMILIES, cap
    from router_training.fit import drop_terms

    qs = []
    for name in ("klue-mrc", "kice", "click-korean", "kmmlu", "mmmlu", "click-social"):
        qs += cap(FAMILIES.get(name).load(data_root), 50)
    feats = FeatureExtractor(RouterParams())(qs)  # with Kiwi's morpheme vectors for the fits below
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
    block = embeddings(feats, len(feats[0].embedding))

    def vector_pull(model):
        """Mean |vector-block contribution| to the training rows' decisions."""
        return np.abs(model.embedding_weight * (block @ model.embedding_coef)).mean()

    plain = fit_linear(feats, y, None, RouterParams(term_dropout=0.0))
    with_copies = fit_linear(feats, y, None, RouterParams())
    assert vector_pull(with_copies) > 1.1 * vector_pull(plain)  # 2.59 → 3.16 here


def test_the_exams_instruction_words_are_never_terms(data_root):
    """Each family words its instructions its own way (KICE "적절한", KMMLU "옳은", CLIcK "고르십시오"), so the words
    separated the families and sent real 수능 윤리·법 items ("… 적절한 것만을 <보기>에서 고른 것은?") to 국어: the
    same question asked in another family's wording gets the same terms, and its content words stay."""
    from rag.router.params import INSTRUCTION_WORDS
    from router_training.families import FAMILIES

    fx = FeatureExtractor(WORDS)
    real = next(q for q in FAMILIES.get("ksat-social").load(data_root) if "법적 판단만을" in q.question)
    wordings = ["다음 사례에 대한 옳은 법적 판단만을 <보기>에서 있는 대로 고른 것은?",
                "다음 사례에 대한 법적 판단으로 가장 적절한 것을 고르십시오.",
                "밑줄 친 사례에 대해 법적 판단으로 옳지 않은 것은 무엇인가?"]
    feats = fx([real.model_copy(update={"question": w}) for w in wordings])
    terms = [set(f.terms) for f in feats]
    assert terms[0] == terms[1] == terms[2]
    assert {"q:법/NN", "q:판단/NN", "q:사례/NN"} <= terms[0]  # what the question is about stays
    assert not any(t[2:].rsplit("/", 1)[0] in INSTRUCTION_WORDS for f in feats for t in f.terms)
