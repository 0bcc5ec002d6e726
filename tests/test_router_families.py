"""The router's question families (``router_training.families``, the synthetic look-alikes) and the
leave-one-family-out folds (``eval.router.lofo``)."""
import json

import pytest
from router_helpers import use_small_families

from rag.data import load_questions


def test_families_and_the_real_ksat_social_items(data_root):
    """ksat-social is the competition test's KCSAT-social rows, read as labelled (never relabelled here), and
    the shipped router's training set holds none of them nor the KICE years the competition test shares."""
    from router_training.families import FAMILIES, default_training

    assert {"klue-mrc", "kice", "click-korean", "kmmlu", "mmmlu", "click-social", "sat-history",
            "ksat-social"} <= set(FAMILIES.names())
    test = load_questions(data_root / "competition/test.csv", labels=data_root / "competition/test_sources.csv")
    ks = FAMILIES.get("ksat-social").load(data_root)
    assert [q.id for q in ks] == [q.id for q in test if q.source == "KCSAT-social"] and ks
    assert {q.n_choices for q in ks} == {5} and {q.domain for q in ks} == {"social"}
    assert all(q.metadata["family"] == "ksat-social" for q in ks)
    assert any("사상가" in q.question for q in ks)  # 윤리와 사상
    train = default_training(data_root)
    ids = {q.id for q in train}
    assert not ids & {q.id for q in ks}  # evaluation only
    assert not any(q.metadata.get("year") in {"2020", "2021", "2022", "2023", "2024"} for q in train
                   if q.source == "KICE")
    sat = FAMILIES.get("sat-history").load(data_root)
    assert sat and {q.n_choices for q in sat} == {5}


def test_synthetic_families_carry_no_shape_label(data_root):
    """Look-alike families vary the choice count (4 and 5 in both halves of their sample: the sample order must
    not be the draw that set the count) and kobest-mc has 국어 items with and without a separate passage."""
    from collections import Counter

    from router_training.families import FAMILIES

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

    from router_training.families import FAMILIES
    from router_training.families import synthetic_wiki as synthetic

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

    from router_training.families import FAMILIES
    from router_training.families.synthetic_wiki import SARYO_FIELDS, SARYO_STEMS

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
    from eval.router import lofo
    from rag.router.params import RouterParams

    use_small_families(monkeypatch, ("kice", "klue-mrc", "mmmlu", "click-social"))
    res = lofo.leave_one_family_out(data_root, params=RouterParams(train_cap=40))
    by = {r.family: r for r in res}
    assert sorted(by) == ["click-social", "kice", "klue-mrc", "mmmlu"]
    assert all(r.n == 40 and 0 <= r.accuracy <= 1 for r in res)
    assert by["mmmlu"].changed_count_social is not None and by["kice"].changed_count_social is None
    s = lofo.summary(res)
    assert s["worst_family"] == min(r.accuracy for r in res)
    json.dumps(s)  # the per-question scores stay out of the summary


def test_threshold_frontier_routes_the_folds_at_other_thresholds(data_root, monkeypatch):
    """At the configured threshold the frontier gives the folds' own figures; at 0 everything is routed 사회; at
    another threshold it is what the folds give when routed with that ``router.threshold``."""
    from common.config import RouterConfig
    from eval.router import lofo
    from rag.router.params import RouterParams

    use_small_families(monkeypatch, ("kice", "klue-mrc", "mmmlu", "click-social"))
    res = lofo.leave_one_family_out(data_root, params=RouterParams(train_cap=40), thresholds=(0.0, 0.3, 0.5))
    by = {r.family: r for r in res}
    pts = {p.threshold: p for p in lofo.threshold_frontier(res)}
    assert sorted(pts) == [0.0, 0.3, 0.5]
    at = pts[0.5]
    assert at.worst_korean == min(by["kice"].accuracy, by["klue-mrc"].accuracy)
    assert at.worst_social == min(by["mmmlu"].accuracy, by["click-social"].accuracy)
    assert at.worst_family == lofo.summary(res)["worst_family"]
    assert at.five_choice_social == lofo.five_choice_social(res)
    assert pts[0.0].worst_social == 1.0 and pts[0.0].worst_korean == 0.0 and pts[0.0].five_choice_social == 1.0
    low = {r.family: r for r in lofo.leave_one_family_out(
        data_root, params=RouterParams(train_cap=40), cfg=RouterConfig(name="classifier", threshold=0.3))}
    assert pts[0.3].worst_korean == min(low["kice"].accuracy, low["klue-mrc"].accuracy)
    assert pts[0.3].worst_social == min(low["mmmlu"].accuracy, low["click-social"].accuracy)
    assert pts[0.3].five_choice_social == lofo.five_choice_social(list(low.values()))
    with pytest.raises(ValueError, match="per-question scores"):
        lofo.threshold_frontier([])


def test_hash_bucket_halves_are_disjoint(data_root):
    a = load_questions(f"{data_root}/exams/kice@0/2")
    b = load_questions(f"{data_root}/exams/kice@1/2")
    assert len(a) + len(b) == len(load_questions(f"{data_root}/exams/kice")) and not {q.id for q in a} & {q.id for q in b}


def test_lofo_command_writes_its_table_and_frontier(tmp_path, data_root, monkeypatch, capsys):
    from eval.router.__main__ import main

    use_small_families(monkeypatch, ("kice", "klue-mrc", "mmmlu", "click-social"), n=30)
    assert main(["lofo", "--student", "none", "--second-opinion", "none", "--set", "train_cap=30",
                 "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.strip().splitlines()[-1].startswith("RESULT worst_family=")
    summary = json.loads((tmp_path / "router_lofo.json").read_text())
    assert sorted(f["family"] for f in summary["families"]) == ["click-social", "kice", "klue-mrc", "mmmlu"]
    assert [p["threshold"] for p in summary["threshold_frontier"]] == [0.3, 0.4, 0.45, 0.5, 0.55, 0.6, 0.7]
    assert summary["worst_family"] == min(f["accuracy"] for f in summary["families"])
