"""Routers: classifier save/load round trip without pickle, the artifact's checks and the shipped router, no
choice-count shortcut, uncertainty policy, rule, constant and LLM routers, CLIs. Features: test_router_features.py; families and folds: test_router_families.py."""
import json

import numpy as np
import pytest

from common.config import RouterConfig
from eval.router.lofo import change_choice_count
from rag.data import load_questions
from rag.router import make_router
from rag.router.artifact import RouterArtifact, RouterArtifactError
from rag.router.classifier import ClassifierRouter
from rag.router.params import RouterParams
from router_training.train import train_router
from router_training.writer import save_router


@pytest.fixture(scope="module")
def small_router(data_root, tmp_path_factory):
    """A classifier trained on a few hundred real rows of five families (both domains, 4 and 5 choices)."""
    from router_training.families import FAMILIES, cap

    qs = []
    for name in ("klue-mrc", "kice", "kmmlu", "mmmlu", "click-social"):
        qs += cap(FAMILIES.get(name).load(data_root), 60)
    out = tmp_path_factory.mktemp("router")
    save_router(train_router(qs), out)
    return out


def test_classifier_round_trip_without_pickle(tmp_path, router_data):
    from scipy.sparse import csr_matrix, hstack

    from rag.router.features import FeatureExtractor
    from router_training.families import family_weights
    from router_training.fit import fit_linear

    params = RouterParams(C=4.0)
    art = train_router(router_data, params)
    save_router(art, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["SHA256SUMS", "router.json", "router.npz"]
    np.load(tmp_path / "router.npz", allow_pickle=False)  # plain arrays only
    info = json.loads((tmp_path / "router.json").read_text())
    assert info["format"].startswith("csat-rag/router") and info["params"]["C"] == 4.0
    router = ClassifierRouter(RouterConfig(name="classifier", model=str(tmp_path), uncertain="label"))
    assert router.artifact.params == params  # the settings come back with the router
    p = np.array(router.p_social(router_data))
    # the same fit through scikit-learn: the saved arrays reproduce its probabilities
    feats = FeatureExtractor(params)(router_data)
    model = fit_linear(feats, [int(q.domain == "social") for q in router_data], family_weights(router_data), params,
                       keep_sklearn=True)
    vq, vp, clf = model._sk
    feats = router.features(router_data)
    assert model.embedding_weight > 0 and all(f.embedding is not None for f in feats)
    assert model.gated_weight > 0 and model.gated_coef.size == model.coef.size
    gate = np.array([1 - f.dense[1] for f in feats])[:, None]  # 1 − overlap_max
    Xq = vq.transform([f.terms for f in feats])
    scale = np.array([0.15] * 2)
    dense = np.stack([f.dense for f in feats]).copy()
    dense[:, -2:] *= scale  # the question-in-passage features, scaled by params.question_in_passage_scale
    X = hstack([Xq, vp.transform([f.passage_terms for f in feats]) * params.passage_weight, csr_matrix(dense),
                csr_matrix(Xq.multiply(gate)) * params.gated_weight,
                csr_matrix(np.stack([f.embedding for f in feats]) * params.embedding_weight),
                csr_matrix(np.stack([f.embedding * (1 - f.dense[1]) for f in feats]) * params.embedding_weight),
                csr_matrix(np.full((len(feats), 1), params.passage_prior))]  # has-a-passage held at the prior
               ).tocsr()
    np.testing.assert_allclose(p, clf.predict_proba(X)[:, 1], atol=1e-6)  # float32 coefficients in the file
    routes = router.route(router_data)
    assert all(r.label in ("korean", "social") and r.confidence >= 0.5 for r in routes)
    assert sum(r.label == q.domain for r, q in zip(routes, router_data)) / len(routes) > 0.9  # training fit


def test_saved_settings_and_word_lists_are_what_routing_reads(tmp_path, router_data):
    """A router keeps its settings and word lists: routing reads them from the artifact, not the code's defaults."""
    from rag.router.params import RouterLexicon

    lexicon = RouterLexicon(instruction_words=("다음",), language_terms=("문법",), social_terms=("경제",))
    art = train_router(router_data, RouterParams(passage_weight=0.7, lexicon=lexicon))
    save_router(art, tmp_path)
    router = ClassifierRouter(RouterConfig(name="classifier", model=str(tmp_path)))
    assert router.features.lexicon == lexicon and router.artifact.params.passage_weight == 0.7
    # 적절 is an instruction word by default, a term of this router
    q = router_data[0].model_copy(update={"question": "다음 중 적절한 것은?"})
    assert any(t.startswith("q:적절") for t in router.features([q])[0].terms)
    assert router.artifact.model.decision(router.features(router_data[:5])).shape == (5,)


def test_router_artifact_refuses_changed_missing_and_ill_fitting_files(tmp_path, router_data):
    art = train_router(router_data)
    save_router(art, tmp_path / "r")
    RouterArtifact.load(tmp_path / "r")
    for name, change, match in (
            ("router.npz", lambda p: p.write_bytes(p.read_bytes()[:-20]), "router.npz: changed"),
            ("router.json", lambda p: p.unlink(), "router.json: missing"),
            ("SHA256SUMS", lambda p: p.unlink(), "SHA256SUMS: missing")):
        bad = tmp_path / f"bad-{name}"
        save_router(art, bad)
        change(bad / name)
        with pytest.raises(RouterArtifactError, match=match):
            RouterArtifact.load(bad)
    # re-stamped after an edit: the checksums pass, the contents are checked all the same
    from router_training.writer import write_checksums

    for edit, match in ((lambda info: info.update(terms=info["terms"][:5]), "indexes past"),
                        (lambda info: info["params"].update(C=-1), "not valid router settings"),
                        (lambda info: info.update(format="csat-rag/router-tfidf-lr/10"), "older formats")):
        bad = tmp_path / "restamped"
        save_router(art, bad)
        info = json.loads((bad / "router.json").read_text())
        edit(info)
        (bad / "router.json").write_text(json.dumps(info, ensure_ascii=False))
        write_checksums(bad)
        with pytest.raises(RouterArtifactError, match=match):
            RouterArtifact.load(bad)
    bad = tmp_path / "arrays"
    save_router(art, bad)
    with np.load(bad / "router.npz") as z:
        arrays = {k: z[k] for k in z.files}
    arrays["router.coef"] = arrays["router.coef"][:-3]
    np.savez(bad / "router.npz", **arrays)
    write_checksums(bad)
    with pytest.raises(RouterArtifactError, match="coef: .* coefficients"):
        RouterArtifact.load(bad)


def test_shipped_router_loads_verified_and_routes(data_root):
    """The router committed with the package: loaded by name, checksums verified, settings and a second opinion
    inside, and it routes real questions of both domains."""
    router = make_router(RouterConfig(name="classifier", model="shipped:default", second_opinion=False))
    art = router.artifact
    assert art.second is not None and art.student is not None and art.meta["recipe"] == "default"
    assert art.params == RouterParams()  # shipped with today's defaults
    qs = load_questions(data_root / "competition/test.csv", labels=data_root / "competition/test_sources.csv")
    sample = [q for q in qs if q.source in ("KLUE-MRC", "MMMLU")][::20]
    routes = router.route(sample)
    assert sum(r.label == q.domain for r, q in zip(routes, sample)) / len(sample) >= 0.9
    with pytest.raises(RouterArtifactError, match="no shipped router"):
        make_router(RouterConfig(name="classifier", model="shipped:nope"))


def test_social_question_keeps_its_route_when_a_choice_is_added_or_removed(small_router, data_root):
    """The shortcut of issue 12: a 5th choice used to send every 4-choice 사회 question to 국어."""
    router = make_router(RouterConfig(name="classifier", model=str(small_router), uncertain="label"))
    test = load_questions(data_root / "competition/test.csv", labels=data_root / "competition/test_sources.csv")
    social = [q for q in test if q.domain == "social" and q.n_choices == 4][:40]  # never trained on
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
    with pytest.raises(RouterArtifactError, match="SHA256SUMS: missing"):
        RouterArtifact.load(tmp_path)
    with pytest.raises(RouterArtifactError, match="no router directory"):
        RouterArtifact.load(tmp_path / "nope")
    with pytest.raises(ValueError, match="router.model is not set"):
        make_router(RouterConfig(name="classifier", model=None))


def test_constant_and_keyword_routers(router_data):
    assert {r.label for r in make_router(RouterConfig(name="always-social")).route(router_data)} == {"social"}
    assert {r.label for r in make_router(RouterConfig(name="always-korean")).route(router_data)} == {"korean"}
    kw = make_router(RouterConfig(name="keywords", uncertain="label")).route(router_data)
    assert len(kw) == len(router_data) and all(0.5 <= r.confidence <= 1 for r in kw)
    with pytest.raises(KeyError, match="unknown router"):
        make_router(RouterConfig(name="nope"))


def test_router_cli_train_and_eval(tmp_path, data_root, capsys):
    from eval.router.__main__ import main as eval_main
    from rag.data import write_jsonl
    from router_training.__main__ import main

    sub = tmp_path / "train.jsonl"
    qs = load_questions(data_root / "competition/train.csv", labels=data_root / "competition/train_sources.csv")
    write_jsonl(qs[:60] + qs[-60:], sub)
    assert main(["train", "--data", str(sub), "--out", str(tmp_path / "r"), "--student", "none",
                 "--second-opinion", "none", "--set", "C=2", "--set", "passage_prior=none"]) == 0
    art = RouterArtifact.load(tmp_path / "r")
    assert art.params.C == 2 and art.params.passage_prior is None and art.second is None
    assert eval_main(["eval", "--model", str(tmp_path / "r"), "--data", str(sub), "--out", str(tmp_path / "e")]) == 0
    out = capsys.readouterr().out
    assert out.strip().splitlines()[-1].startswith("RESULT accuracy=")
    assert json.loads((tmp_path / "e/router_eval.json").read_text())["n"] == 120
    with pytest.raises(SystemExit, match="2"):
        main(["train", "--families", "nope", "--out", str(tmp_path / "x")])
    with pytest.raises(SystemExit, match="2"):
        main(["train", "--set", "wieght=1", "--out", str(tmp_path / "x")])
    assert "KEY one of" in capsys.readouterr().err
    unlabelled = tmp_path / "plain.jsonl"
    write_jsonl([q.model_copy(update={"domain": None}) for q in qs[:5]], unlabelled)
    with pytest.raises(SystemExit, match="2"):
        eval_main(["eval", "--data", str(unlabelled)])
    assert "no labelled questions" in capsys.readouterr().err


def test_llm_router_zero_shot(tiny_qwen_dir, router_data):
    from common.config import LLMConfig
    from rag.llm import load_llm

    llm = load_llm(LLMConfig(model=str(tiny_qwen_dir), dtype="float32", batch_size=4))
    routes = make_router(RouterConfig(name="llm", uncertain="label"), llm=llm).route(router_data[:4])
    assert len(routes) == 4 and all(0 <= r.p_social <= 1 and r.confidence >= 0.5 for r in routes)
    with pytest.raises(ValueError, match="needs the loaded LLM"):
        make_router(RouterConfig(name="llm"))


def test_routing_and_the_demo_import_no_training_or_evaluation_code(data_root):
    """The runtime router and the demo stand apart from building and judging routers: loading the shipped router
    and routing with it imports neither ``router_training`` nor ``eval`` nor scikit-learn."""
    import subprocess
    import sys

    code = ("import sys; import rag.demo, rag.predict; from rag.router import make_router; "
            "from common.config import RouterConfig; from rag.data import load_questions; "
            f"qs = load_questions({str(data_root / 'competition/train.csv')!r})[:3]; "
            "make_router(RouterConfig(second_opinion=False)).route(qs); "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'router_training', 'eval', 'sklearn'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
