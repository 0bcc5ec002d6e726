"""Routers: classifier save/load round trip without pickle, no choice-count shortcut, uncertainty policy, rule,
constant and LLM routers, CLI. Features: test_router_features.py; families and folds: test_router_families.py."""
import json

import numpy as np
import pytest

from common.config import RouterConfig
from rag.data import load_questions
from rag.router import make_router
from rag.router.classifier import ClassifierRouter, TfidfLogReg
from rag.router.lofo import change_choice_count
from rag.router.training import train_classifier


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
    assert main(["train", "--data", str(sub), "--out", str(tmp_path / "r"), "--topic-student", "none",
                 "--second-opinion", "none"]) == 0
    assert main(["eval", "--model", str(tmp_path / "r"), "--data", str(sub), "--out", str(tmp_path / "e")]) == 0
    out = capsys.readouterr().out
    assert out.strip().splitlines()[-1].startswith("RESULT accuracy=")
    assert json.loads((tmp_path / "e/router_eval.json").read_text())["n"] == 120
    with pytest.raises(SystemExit, match="2"):
        main(["train", "--families", "nope", "--out", str(tmp_path / "x")])


def test_llm_router_zero_shot(tiny_qwen_dir, router_data):
    from common.config import LLMConfig
    from rag.llm import load_llm

    llm = load_llm(LLMConfig(model=str(tiny_qwen_dir), dtype="float32", batch_size=4))
    routes = make_router(RouterConfig(name="llm", uncertain="label"), llm=llm).route(router_data[:4])
    assert len(routes) == 4 and all(0 <= r.p_social <= 1 and r.confidence >= 0.5 for r in routes)
    with pytest.raises(ValueError, match="needs the loaded LLM"):
        make_router(RouterConfig(name="llm"))
