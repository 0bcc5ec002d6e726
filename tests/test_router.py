"""Routers: classifier save/load round trip without pickle, no choice-count shortcut, uncertainty policy,
families and leave-one-family-out, rule and constant routers, CLI."""
import json

import numpy as np
import pytest

from common.config import RouterConfig
from rag.data import load_questions
from rag.router import make_router
from rag.router.classifier import ClassifierRouter, TfidfLogReg, train_classifier
from rag.router.lofo import change_choice_count


@pytest.fixture(scope="module")
def router_data(data_root, train_rows):
    kice = load_questions(data_root / "exams/kice/2016_11_KICE.json")[:10]
    return train_rows + kice


@pytest.fixture(scope="module")
def small_router(data_root, tmp_path_factory):
    """A classifier trained on a few hundred real rows of five families (both domains, 4 and 5 choices)."""
    from rag.router.families import FAMILIES, cap

    qs = []
    for name in ("klue-mrc", "kice", "kmmlu", "mmmlu", "click-social"):
        qs += cap(FAMILIES.get(name).load(data_root), 60)
    out = tmp_path_factory.mktemp("router")
    train_classifier(qs).save(out)
    return out


def test_classifier_round_trip_without_pickle(tmp_path, router_data):
    from scipy.sparse import csr_matrix, hstack

    model = train_classifier(router_data, C=4.0)
    model.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["router.json", "router.npz"]
    np.load(tmp_path / "router.npz", allow_pickle=False)  # plain arrays only
    assert json.loads((tmp_path / "router.json").read_text())["format"].startswith("csat-rag/router")
    router = ClassifierRouter(RouterConfig(name="classifier", model=str(tmp_path), uncertain="label"))
    p = np.array(router.p_social(router_data))
    vq, vp, clf = model._sk
    feats = router.features(router_data)
    assert model.embedding_weight > 0 and all(f.embedding is not None for f in feats)
    assert model.gated_weight > 0 and model.gated_coef.size == model.coef.size
    gate = np.array([1 - f.dense[1] for f in feats])[:, None]  # 1 − overlap_max
    Xq = vq.transform([f.terms for f in feats])
    X = hstack([Xq, vp.transform([f.passage_terms for f in feats]) * model.passage_weight,
                csr_matrix(np.stack([f.dense for f in feats]) * model.dense_scale),
                csr_matrix(Xq.multiply(gate)) * model.gated_weight,
                csr_matrix(np.stack([f.embedding for f in feats]) * model.embedding_weight),
                csr_matrix(np.stack([f.embedding * (1 - f.dense[1]) for f in feats]) * model.embedding_weight),
                csr_matrix(np.full((len(feats), 1), model.passage_prior))]  # has-a-passage held at the prior
               ).tocsr()
    np.testing.assert_allclose(p, clf.predict_proba(X)[:, 1], atol=1e-9)
    routes = router.route(router_data)
    assert all(r.label in ("korean", "social") and r.confidence >= 0.5 for r in routes)
    assert sum(r.label == q.domain for r, q in zip(routes, router_data)) / len(routes) > 0.9  # training fit


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
    feats = FeatureExtractor()(qs)
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


def test_old_router_format_is_refused(tmp_path, router_data):
    train_classifier(router_data).save(tmp_path)
    info = json.loads((tmp_path / "router.json").read_text())
    info["format"] = "csat-rag/router-tfidf-lr/1"
    (tmp_path / "router.json").write_text(json.dumps(info))
    with pytest.raises(ValueError, match="choice-count fix"):
        TfidfLogReg.load(tmp_path)


def test_social_question_keeps_its_route_when_a_choice_is_added_or_removed(small_router, data_root):
    """The shortcut of issue 12: a 5th choice used to send every 4-choice 사회 question to 국어."""
    router = make_router(RouterConfig(name="classifier", model=str(small_router), uncertain="label"))
    test = load_questions(data_root / "competition/test.csv", labels=data_root / "competition/test_sources.csv")
    social = [q for q in test if q.domain == "social"][:40]  # never trained on
    assert {q.n_choices for q in social} == {4}
    plus = change_choice_count(social)
    assert {q.n_choices for q in plus} == {5} and all(q.choices[:4] == o.choices for q, o in zip(plus, social))
    minus = change_choice_count(plus)
    assert {q.n_choices for q in minus} == {4}
    assert all(q.answer_text == o.answer_text for q, o in zip(minus, social))  # the dropped choice was wrong
    base = [r.label for r in router.route(social)]
    assert base.count("social") >= 30  # held-out 사회 rows, a router trained on 300 rows
    for variant in (plus, minus, [q.model_copy(update={"choices": [*q.choices, "위의 내용 중 해당하는 것 없음"]})
                                  for q in social]):
        changed = [r.label for r in router.route(variant)]
        assert sum(a == b for a, b in zip(base, changed)) >= 36, "the choice count moved the route"
        assert changed.count("social") >= 28  # (the old router sent all 40 to 국어 once a fifth choice came)


def test_uncertain_questions_retrieve(small_router, data_root):
    qs = load_questions(data_root / "competition/test.csv", labels=data_root / "competition/test_sources.csv")[:80]
    sure = make_router(RouterConfig(name="classifier", model=str(small_router), uncertain="label",
                                    uncertain_margin=0.2))
    unsure = make_router(RouterConfig(name="classifier", model=str(small_router), uncertain="retrieve",
                                      uncertain_margin=0.2))
    a, b = sure.route(qs), unsure.route(qs)
    assert [r.uncertain for r in a] == [r.uncertain for r in b]
    for x, y in zip(a, b):
        assert x.uncertain == (abs(x.p_social - 0.5) < 0.2 or x.uncertain)
        assert y.label == ("social" if x.uncertain else x.label)
    assert any(r.uncertain for r in a)
    # a question made of words the router never saw is uncertain however its probability falls
    odd = qs[0].model_copy(update={"question": "ㅋㅋㅋ 뷁뷁 zzyzx qwxv?", "choices": ["뷁", "zzyzx", "qwxv", "ㅎㅎ"],
                                   "paragraph": ""})
    r = make_router(RouterConfig(name="classifier", model=str(small_router), uncertain="retrieve",
                                 uncertain_margin=0.0, min_coverage=0.5)).route([odd])[0]
    assert r.uncertain and r.label == "social"


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


def test_families_and_the_real_ksat_social_items(data_root):
    from rag.router.families import FAMILIES, competition_test_relabelled, default_training, kice_matches

    assert {"klue-mrc", "kice", "click-korean", "kmmlu", "mmmlu", "click-social", "sat-history",
            "ksat-social"} <= set(FAMILIES.names())
    ks = FAMILIES.get("ksat-social").load(data_root)
    assert len(ks) == 182 and {q.n_choices for q in ks} == {5} and {q.domain for q in ks} == {"social"}
    assert not any(kice_matches(ks, load_questions(data_root / "exams/kice")))
    assert any("사상가" in q.question for q in ks)  # 윤리와 사상
    test = competition_test_relabelled(data_root)
    assert sum(q.domain == "social" for q in test) == 159 + 182
    train = default_training(data_root)
    ids = {q.id for q in train}
    assert not ids & {q.id for q in ks}  # evaluation only
    assert not any(q.metadata.get("year") in {"2020", "2021", "2022", "2023", "2024"} for q in train
                   if q.source == "KICE")
    sat = FAMILIES.get("sat-history").load(data_root)
    assert len(sat) == 1106 and {q.n_choices for q in sat} == {5}


def test_synthetic_families_carry_no_shape_label(data_root):
    """Look-alike families vary the choice count (4 and 5 in both halves of their sample: the sample order must
    not be the draw that set the count) and kobest-mc has 국어 items with and without a separate passage."""
    from collections import Counter

    from rag.router.families import FAMILIES

    loaded = {}
    for name in ("kobest-mc", "korquad-mc", "wiki-jaryo", "wiki-gabeul", "statute-mc"):
        qs = loaded[name] = FAMILIES.get(name).load(data_root)
        assert len(qs) == 2000 and qs[0].metadata["family"] == name
        for half in (qs[:1000], qs[1000:]):
            counts = Counter(q.n_choices for q in half)
            assert 0.35 < counts[4] / len(half) < 0.65, (name, counts)
        assert all(1 <= q.answer <= q.n_choices and len(set(q.choices)) == q.n_choices for q in qs)
    st = loaded["statute-mc"]
    assert {q.domain for q in st} == {"social"} and not any(q.paragraph for q in st)
    assert sum("「" in q.question for q in st) > len(st) / 2  # the law is asked about, not shown
    kb = loaded["kobest-mc"]
    assert {q.domain for q in kb} == {"korean"} and {q.subject for q in kb} == {"textual", "functional", "grammar"}
    with_passage = sum(bool(q.paragraph) for q in kb) / len(kb)
    assert 0.2 < with_passage < 0.6


def test_wiki_grammar_is_language_knowledge_kept_out_of_the_social_families(data_root, monkeypatch):
    """wiki-grammar: passage-less 국어 statements on language; its articles feed no 사회 family (the same
    sentence must not be a 국어 choice in one family and a 사회 choice in another)."""
    from collections import Counter

    from rag.router import synthetic_wiki as synthetic
    from rag.router.families import FAMILIES

    assert synthetic.is_language_article("한국어 음운론") and synthetic.is_language_article("외래어 표기법")
    assert not any(map(synthetic.is_language_article, ("한국어문회", "성문법", "박용수 (국어학자)", "조선어학회 사건")))
    gr = FAMILIES.get("wiki-grammar").load(data_root)
    assert len(gr) == 1000 and {q.domain for q in gr} == {"korean"} and not any(q.paragraph for q in gr)
    assert 0.35 < Counter(q.n_choices for q in gr)[4] / len(gr) < 0.65
    assert all(1 <= q.answer <= q.n_choices and len(set(q.choices)) == q.n_choices for q in gr)
    grammar_choices = {c for q in gr for c in q.choices if len(c) > 20}
    social = {c for q in FAMILIES.get("wiki-gabeul").load(data_root) for c in q.choices}
    assert not grammar_choices & social
    monkeypatch.setattr(synthetic, "is_language_article", lambda title: False)  # the check can fail
    leaked = {c for q in FAMILIES.get("wiki-gabeul").load(data_root) for c in q.choices}
    assert grammar_choices & leaked


def test_wiki_saryo_asks_about_a_source_not_for_a_line_of_it(data_root):
    """wiki-saryo: a quotation as the 사료 (title masked), an inference stem; no choice is a line of the quotation
    (the answer is knowledge about the source, and wrong choices come from other articles)."""
    from collections import Counter

    from rag.router.families import FAMILIES
    from rag.router.synthetic_wiki import SARYO_FIELDS, SARYO_STEMS

    qs = FAMILIES.get("wiki-saryo").load(data_root)
    assert 900 <= len(qs) <= 1000 and {q.domain for q in qs} == {"social"} and all(q.paragraph for q in qs)
    assert {q.question for q in qs} <= set(SARYO_STEMS) and {q.subject for q in qs} == set(SARYO_FIELDS)
    assert 0.35 < Counter(q.n_choices for q in qs)[4] / len(qs) < 0.65
    assert all(1 <= q.answer <= q.n_choices and len(set(q.choices)) == q.n_choices for q in qs)
    for q in qs:
        for c in q.choices:
            assert "“" not in c and "”" not in c, (q.id, c)
            assert not any(c[i:i + 15] in q.paragraph for i in range(0, max(1, len(c) - 15), 5)), (q.id, c)


def test_leave_one_family_out_on_small_families(data_root, monkeypatch):
    """Four small families: each left out in turn; the table has one row per family."""
    from rag.router import families, lofo

    small = {}
    for name in ("kice", "klue-mrc", "mmmlu", "click-social"):
        fam = families.FAMILIES.get(name)
        small[name] = families.Family(name, fam.domain, fam.description,
                                      lambda root, f=fam: families.cap(f.load(root), 40), 40)
    monkeypatch.setattr(families.FAMILIES, "_items", small)
    res = lofo.leave_one_family_out(data_root, train_cap=40)
    by = {r.family: r for r in res}
    assert sorted(by) == ["click-social", "kice", "klue-mrc", "mmmlu"]
    assert all(r.n == 40 and 0 <= r.accuracy <= 1 for r in res)
    assert by["mmmlu"].changed_count_social is not None and by["kice"].changed_count_social is None
    s = lofo.summary(res)
    assert s["worst_family"] == min(r.accuracy for r in res)


def test_classifier_missing_model_is_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a trained router"):
        TfidfLogReg.load(tmp_path)
    with pytest.raises(ValueError, match="router.model is not set"):
        make_router(RouterConfig(name="classifier"))


def test_constant_and_keyword_routers(router_data):
    assert {r.label for r in make_router(RouterConfig(name="always-social")).route(router_data)} == {"social"}
    assert {r.label for r in make_router(RouterConfig(name="always-korean")).route(router_data)} == {"korean"}
    kw = make_router(RouterConfig(name="keywords", uncertain="label")).route(router_data)
    assert len(kw) == len(router_data) and all(0.5 <= r.confidence <= 1 for r in kw)
    with pytest.raises(KeyError, match="unknown router"):
        make_router(RouterConfig(name="nope"))


def test_router_cli_train_and_eval(tmp_path, data_root, capsys):
    from rag.router.__main__ import main

    sub = tmp_path / "train.jsonl"
    from rag.data import write_jsonl

    qs = load_questions(data_root / "competition/train.csv", labels=data_root / "competition/train_sources.csv")
    write_jsonl(qs[:60] + qs[-60:], sub)
    assert main(["train", "--data", str(sub), "--out", str(tmp_path / "r")]) == 0
    assert main(["eval", "--model", str(tmp_path / "r"), "--data", str(sub), "--out", str(tmp_path / "e")]) == 0
    out = capsys.readouterr().out
    assert out.strip().splitlines()[-1].startswith("RESULT accuracy=")
    assert json.loads((tmp_path / "e/router_eval.json").read_text())["n"] == 120
    with pytest.raises(SystemExit, match="2"):
        main(["train", "--families", "nope", "--out", str(tmp_path / "x")])


def test_hash_bucket_halves_are_disjoint(data_root):
    a = load_questions(f"{data_root}/exams/kice@0/2")
    b = load_questions(f"{data_root}/exams/kice@1/2")
    assert len(a) + len(b) == 450 and not {q.id for q in a} & {q.id for q in b}


def test_llm_router_zero_shot(tiny_qwen_dir, router_data):
    from common.config import LLMConfig
    from rag.llm import load_llm

    llm = load_llm(LLMConfig(model=str(tiny_qwen_dir), dtype="float32", batch_size=4))
    routes = make_router(RouterConfig(name="llm", uncertain="label"), llm=llm).route(router_data[:4])
    assert len(routes) == 4 and all(0 <= r.p_social <= 1 and r.confidence >= 0.5 for r in routes)
    with pytest.raises(ValueError, match="needs the loaded LLM"):
        make_router(RouterConfig(name="llm"))


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
    feats = router.features(router_data)
    dim = router.features.vectors.dim
    assert all(f.embedding.shape == (dim + len(PROTOTYPES),) for f in feats)
    assert model.embedding_coef.size == 2 * (dim + len(PROTOTYPES))
    p = np.array(router.p_social(router_data))
    np.testing.assert_allclose(p, model.predict_proba(feats), atol=1e-9)
    # the topic columns move the decision: zeroed, the probabilities change
    for f in feats:
        f.embedding = f.embedding.copy()
        f.embedding[dim:] = 0.0
    assert np.abs(model.predict_proba(feats) - p).max() > 1e-3
    # a saved router whose meta names other prototypes than its coefficients were fitted on is refused
    bad = json.loads((tmp_path / "router.json").read_text())
    bad["meta"]["topic"]["prototypes"] = bad["meta"]["topic"]["prototypes"][:-1]
    (tmp_path / "router.json").write_text(json.dumps(bad, ensure_ascii=False))
    with pytest.raises(ValueError, match="topic columns"):
        TfidfLogReg.load(tmp_path)
