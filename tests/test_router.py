"""Routers: classifier save/load round trip without pickle, rule and constant routers, CLI."""
import json

import numpy as np
import pytest

from common.config import RouterConfig
from rag.data import load_questions
from rag.router import make_router
from rag.router.classifier import ClassifierRouter, TfidfLogReg, shape_features, train_classifier


@pytest.fixture(scope="module")
def router_data(data_root, train_rows):
    kice = load_questions(data_root / "exams/kice/2016_11_KICE.json")[:10]
    return train_rows + kice


def test_classifier_round_trip_without_pickle(tmp_path, router_data):
    from scipy.sparse import csr_matrix, hstack

    model = train_classifier(router_data, C=4.0)
    model.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["router.json", "router.npz"]
    np.load(tmp_path / "router.npz", allow_pickle=False)  # plain arrays only
    assert json.loads((tmp_path / "router.json").read_text())["format"].startswith("csat-rag/router")
    router = ClassifierRouter(RouterConfig(name="classifier", model=str(tmp_path)))
    p = np.array(router.p_social(router_data))
    vec, clf = model._sk
    feats = router.features(router_data)
    X = hstack([vec.transform(feats), csr_matrix(shape_features(router_data))]).tocsr()
    np.testing.assert_allclose(p, clf.predict_proba(X)[:, 1], atol=1e-9)
    routes = router.route(router_data)
    assert all(r.label in ("korean", "social") and r.confidence >= 0.5 for r in routes)
    assert sum(r.label == q.domain for r, q in zip(routes, router_data)) / len(routes) > 0.9  # training fit


def test_classifier_missing_model_is_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a trained router"):
        TfidfLogReg.load(tmp_path)
    with pytest.raises(ValueError, match="router.model is not set"):
        make_router(RouterConfig(name="classifier"))


def test_constant_and_keyword_routers(router_data):
    assert {r.label for r in make_router(RouterConfig(name="always-social")).route(router_data)} == {"social"}
    assert {r.label for r in make_router(RouterConfig(name="always-korean")).route(router_data)} == {"korean"}
    kw = make_router(RouterConfig(name="keywords")).route(router_data)
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


def test_hash_bucket_halves_are_disjoint(data_root):
    a = load_questions(f"{data_root}/exams/kice@0/2")
    b = load_questions(f"{data_root}/exams/kice@1/2")
    assert len(a) + len(b) == 450 and not {q.id for q in a} & {q.id for q in b}


def test_llm_router_zero_shot(tiny_qwen_dir, router_data):
    from common.config import LLMConfig
    from rag.llm import load_llm

    llm = load_llm(LLMConfig(model=str(tiny_qwen_dir), dtype="float32", batch_size=4))
    routes = make_router(RouterConfig(name="llm"), llm=llm).route(router_data[:4])
    assert len(routes) == 4 and all(0 <= r.p_social <= 1 and r.confidence >= 0.5 for r in routes)
    with pytest.raises(ValueError, match="needs the loaded LLM"):
        make_router(RouterConfig(name="llm"))
