"""Evaluation: metric functions against hand-computed values, reports and charts from a fixture predictions
file, an ablation grid of 3 variants on 6 questions with the tiny model, compare."""
import csv
import json

import pytest

from eval.metrics import brier, compute_metrics, ece, mcnemar, wilson
from rag.record import Prediction
from router_training.writer import save_router


def test_wilson_hand_computed():
    lo, hi = wilson(8, 10)
    assert lo == pytest.approx(0.4902, abs=1e-4) and hi == pytest.approx(0.9433, abs=1e-4)
    assert wilson(0, 0) == (0.0, 0.0)
    lo, hi = wilson(0, 5)
    assert lo == 0.0 and hi == pytest.approx(0.4345, abs=1e-4)


def test_mcnemar_exact_hand_computed():
    a = [True] * 5 + [False] * 1 + [True] * 3 + [False] * 2
    b = [False] * 5 + [True] * 1 + [True] * 3 + [False] * 2
    r = mcnemar(a, b)
    assert (r["b"], r["c"]) == (5, 1) and r["p_value"] == pytest.approx(14 / 64)
    assert mcnemar([True, False], [True, False])["p_value"] == 1.0
    with pytest.raises(ValueError):
        mcnemar([True], [True, False])


def test_ece_and_brier_hand_computed():
    assert ece([0.9, 0.9, 0.6, 0.6], [True, False, True, True]) == pytest.approx(0.4)
    assert brier([[0.7, 0.2, 0.1], [0.5, 0.5]], [1, 2]) == pytest.approx(0.32)


def _records():
    recs = []
    for i in range(10):
        dom = "korean" if i < 6 else "social"
        gold = 1 + i % 4
        pred = gold if i % 3 else (gold % 4) + 1
        probs = [0.1] * 4
        probs[pred - 1] = 0.7
        recs.append(Prediction.from_dict({"id": f"q{i}", "source": "S" + dom[0], "subject": None, "domain": dom,
                     "route": dom if i != 0 else "social", "route_confidence": 0.9, "p_social": 0.5,
                     "retrieved": [{"chunk_id": "c", "score": 0.5, "title": "t", "doc_id": "d", "stages": {}}]
                     if dom == "social" else [], "context_used": 2 if dom == "social" else 0,
                     "prompt_tokens": 100, "n_choices": 4, "probs": probs, "prediction": pred, "gold": gold,
                     "correct": pred == gold}))
    return recs


def test_compute_metrics_groups_and_baselines():
    m = compute_metrics(_records())
    assert m["n"] == 10 and m["accuracy"] == pytest.approx(0.6)  # i = 0, 3, 6, 9 wrong
    assert m["by_domain"]["korean"]["n"] == 6 and m["by_domain"]["korean"]["accuracy"] == pytest.approx(4 / 6)
    assert m["chance"] == pytest.approx(0.25)
    assert m["majority_answer"]["accuracy"] == pytest.approx(0.3)  # gold 1 and 2 appear 3 times each
    assert m["router"]["accuracy"] == pytest.approx(0.9)
    assert m["retrieval"]["share_with_context"] == pytest.approx(0.4)
    assert m["calibration"]["ece"] == pytest.approx(abs(0.7 - 0.6))


def test_report_and_charts_from_fixture_predictions(tmp_path, capsys):
    from eval.compare import main as compare
    from eval.run import main as run

    pred = tmp_path / "pred"
    pred.mkdir()
    with open(pred / "details.jsonl", "w") as f:
        f.writelines(json.dumps(r.to_dict()) + "\n" for r in _records())
    assert run(["--predictions", str(pred), "--out", str(tmp_path / "ev")]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last == "RESULT accuracy=0.6000 korean=0.6667 social=0.5000 n=10"
    m = json.loads((tmp_path / "ev/metrics.json").read_text())
    assert {"n", "accuracy", "ci95", "chance", "by_domain", "by_source", "by_subject"} <= set(m)
    report = (tmp_path / "ev/report.md").read_text()
    assert "### By domain" in report and "config_hash" in report and "ECE" in report
    for png in ("accuracy_by_domain.png", "reliability.png"):
        assert (tmp_path / "ev" / png).read_bytes()[:4] == b"\x89PNG"
    assert compare([str(tmp_path / "ev"), str(tmp_path / "ev"), "--out", str(tmp_path / "cmp.md")]) == 0
    assert (tmp_path / "cmp.md").read_text().count("0.600 [") == 2


def test_ablation_grid_three_variants_on_six_questions(tmp_path, tiny_qwen_dir, small_kb, train_rows, capsys):
    from eval.ablate import main as ablate
    from rag.data import write_jsonl
    from router_training.train import train_router

    rdir = tmp_path / "router"
    save_router(train_router(train_rows), rdir)
    data = write_jsonl(train_rows[:3] + train_rows[-3:], tmp_path / "six.jsonl")
    grid = tmp_path / "grid.yaml"
    grid.write_text("baseline: none\nvariants:\n  none: [router.name=always-korean]\n"
                    "  all: [router.name=always-social]\n  routed_top1: [retrieval.top_k=1]\n")
    argv = ["--data", str(data), "--grid", str(grid), "--out", str(tmp_path / "abl"),
            "-o", f"llm.model={tiny_qwen_dir}", "-o", f"retrieval.kb={small_kb[0]}", "-o", f"router.model={rdir}",
            "-o", "prompt.max_tokens=768", "-o", "retrieval.candidates=20"]
    assert ablate(argv) == 0
    out = capsys.readouterr().out
    assert out.strip().splitlines()[-1].startswith("RESULT baseline=none")
    abl = tmp_path / "abl"
    with open(abl / "ablation.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["variant"] for r in rows] == ["none", "all", "routed_top1"]
    assert float(rows[0]["delta"]) == 0.0 and float(rows[0]["mcnemar_p"]) == 1.0
    assert float(rows[0]["with_context"]) == 0.0 and float(rows[1]["with_context"]) > 0.0
    every = [json.loads(x) for x in (abl / "all/details.jsonl").read_text().splitlines()]
    assert all(d["retrieved"] for d in every)  # no router: every question retrieves (long passages may drop it)
    for v in ("none", "all", "routed_top1"):
        for f in ("predictions.csv", "details.jsonl", "metrics.json", "report.md", "config.yaml"):
            assert (abl / v / f).exists(), (v, f)
    assert (abl / "ablation.png").read_bytes()[:4] == b"\x89PNG" and "| all |" in (abl / "ablation.md").read_text()
    details = [json.loads(x) for x in (abl / "routed_top1/details.jsonl").read_text().splitlines()]
    assert all(len(d["retrieved"]) <= 1 for d in details)


def test_suites_and_dev_split(data_root):
    from common.config import load_config
    from rag.data import load_questions
    from rag.data.splits import competition_train, stratified_split
    from rag.data.suites import load_suite

    cfg = load_config(None)
    everything = competition_train(cfg)
    dev = load_suite("competition-dev", cfg)
    again = load_suite("competition-dev", cfg)
    assert [q.id for q in dev] == [q.id for q in again]
    assert abs(len(dev) - cfg.eval.dev_fraction * len(everything)) <= 2  # rounded per domain
    assert {q.domain for q in dev} == {"korean", "social"}
    train, dev2 = stratified_split(everything, 0.15, 42)
    assert not {q.id for q in train} & {q.id for q in dev2} and len(train) + len(dev2) == len(everything)
    assert {q.id for q in dev2} == {q.id for q in dev}  # the suite is the configured split
    assert len(load_suite("kice", cfg)) == len(load_questions(data_root / "exams/kice"))
    korean = load_suite("click-korean", cfg)
    assert korean and {q.domain for q in korean} == {"korean"} and {q.metadata["group"] for q in korean} == {"Language"}


def test_accuracy_chart_handles_perfect_and_zero_groups(tmp_path):
    from eval.charts import accuracy_chart

    groups = {"all_right": {"n": 3, "accuracy": 1.0, "ci95": list(wilson(3, 3)), "chance": 0.25},
              "all_wrong": {"n": 3, "accuracy": 0.0, "ci95": list(wilson(0, 3)), "chance": 0.2}}
    assert accuracy_chart(groups, tmp_path / "a.png", "t").read_bytes()[:4] == b"\x89PNG"


def test_ablation_variants_differing_only_in_kb_retrieve_from_each_kb(tmp_path, tiny_qwen_dir, small_kb, train_rows,
                                                                     capsys):
    """Retrieved documents are cached by the retriever's fingerprint (KB + settings), not by the query alone:
    the second variant must not be handed the first variant's documents."""
    from common.config import load_config
    from eval.ablate import main as ablate
    from knowledge_base.build import build
    from knowledge_base.store import KnowledgeBase
    from rag.data import write_jsonl

    other = tmp_path / "statutes_kb"
    build(load_config(None, ["kb.sources=[{name: statutes, path: 'data:kb/kr_statutes_2024.jsonl.gz', limit: 60}]",
                             "kb.chunking.size=300"]), other, ["chunk", "bm25"], progress=False)
    ids = {"wiki": {c.chunk_id for c in KnowledgeBase.load(small_kb[0]).chunks},
           "statutes": {c.chunk_id for c in KnowledgeBase.load(other).chunks}}
    assert not ids["wiki"] & ids["statutes"]
    data = write_jsonl(train_rows[-3:], tmp_path / "three.jsonl")
    grid = tmp_path / "grid.yaml"
    grid.write_text(f"variants:\n  wiki: [retrieval.kb={small_kb[0]}]\n  statutes: [retrieval.kb={other}]\n")
    argv = ["--data", str(data), "--grid", str(grid), "--out", str(tmp_path / "abl"),
            "-o", f"llm.model={tiny_qwen_dir}", "-o", "router.name=always-social", "-o", "retrieval.method=bm25",
            "-o", "prompt.max_tokens=768", "-o", "retrieval.top_k=3"]
    assert ablate(argv) == 0
    capsys.readouterr()
    for variant in ("wiki", "statutes"):
        details = [json.loads(x) for x in (tmp_path / "abl" / variant / "details.jsonl").read_text().splitlines()]
        got = {d["chunk_id"] for r in details for d in r["retrieved"]}
        assert got and got <= ids[variant], variant


def test_details_have_one_reader_torn_last_line_dropped_bad_middle_line_named(tmp_path, capsys):
    from eval.run import main as run
    from rag.record import RecordError, read_details, write_details

    recs = _records()
    path = tmp_path / "details.jsonl"
    write_details(path, recs)
    assert read_details(path) == recs
    with open(path, "a", encoding="utf-8") as f:
        f.write('{"id": "q10", "n_choi')  # a run killed mid-write
    assert [r.id for r in read_details(path)] == [r.id for r in recs]
    # the same file is accepted by eval.run (it used to raise on the torn line while predict forgave it)
    assert run(["--predictions", str(tmp_path), "--out", str(tmp_path / "ev")]) == 0
    capsys.readouterr()
    lines = path.read_text().splitlines()
    lines[3] = lines[3][:20]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(RecordError, match=r"details.jsonl, line 4: not valid JSON"):
        read_details(path)
    write_details(path, recs[:1])
    path.write_text(path.read_text().replace('"prediction"', '"predicted"'))
    with pytest.raises(RecordError, match=r"line 1: unknown field\(s\) \['predicted'\]"):
        read_details(path)


def test_details_append_keep_korean_skip_blank_lines_and_name_the_file(tmp_path, caplog):
    """``append`` adds to a details file (resume writes that way); Korean stays readable in it; a blank line in the
    middle is skipped, not the end of the records; the torn-line warning names the file; an empty or missing run is
    refused with its path."""
    import logging

    from rag.record import RecordError, read_details, read_run, write_details

    recs = _records()
    path = tmp_path / "details.jsonl"
    write_details(path, recs[:4])
    write_details(path, recs[4:], append=True)
    assert read_details(path) == recs
    write_details(path, recs[:2])  # not appending: the file is rewritten
    assert read_details(path) == recs[:2]
    write_details(path, [recs[0].__class__.from_dict({**recs[0].to_dict(), "subject": "한국사"})])
    assert "한국사" in path.read_text(encoding="utf-8")
    lines = [json.dumps(r.to_dict(), ensure_ascii=False) for r in recs[:3]]
    path.write_text(f"{lines[0]}\n\n{lines[1]}\n   \n{lines[2]}\n{{\"id\": \"to", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="rag.record"):
        assert [r.id for r in read_details(path)] == ["q0", "q1", "q2"]
    assert f"{path}, line 6: torn last line (an interrupted run) dropped" in caplog.text
    with pytest.raises(FileNotFoundError, match=rf"^{tmp_path / 'nowhere' / 'details.jsonl'} not found: is "
                                                rf"{tmp_path / 'nowhere'} a rag.predict output directory\?$"):
        read_run(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "details.jsonl").write_text("")
    with pytest.raises(RecordError, match=rf"^{tmp_path / 'empty' / 'details.jsonl'} holds no predictions: nothing "
                                          rf"to score$"):
        read_run(tmp_path / "empty")


_GOOD = {"id": "q", "n_choices": 3, "probs": [0.2, 0.5, 0.3], "prediction": 2, "route": "social"}


@pytest.mark.parametrize("change,message", [
    ("not a dict", "line 7: not a JSON object"),
    ({"id": None}, None),  # None: the key is removed
    ({"n_choices": True}, "line 7: field 'n_choices' is True, not a count of 2 or more"),
    ({"n_choices": 1, "probs": [1.0], "prediction": 1}, "line 7: field 'n_choices' is 1, not a count of 2 or more"),
    ({"probs": [0.5, 0.5]}, "line 7: field 'probs' must be 3 finite non-negative numbers, got [0.5, 0.5]"),
    ({"probs": (0.2, 0.5, 0.3)}, "line 7: field 'probs' must be 3 finite non-negative numbers, got (0.2, 0.5, 0.3)"),
    ({"probs": [0.2, True, 0.3]}, "line 7: field 'probs' must be 3 finite non-negative numbers, got [0.2, True, 0.3]"),
    ({"probs": [0.2, -0.1, 0.3]}, "line 7: field 'probs' must be 3 finite non-negative numbers, got [0.2, -0.1, 0.3]"),
    ({"probs": [0.2, float("nan"), 0.3]}, ("line 7: field 'probs' must be 3 finite non-negative numbers, got "
                                           "[0.2, nan, 0.3]")),
    ({"prediction": 4}, "line 7: field 'prediction' is 4, not a choice number in 1..3"),
    ({"prediction": 0}, "line 7: field 'prediction' is 0, not a choice number in 1..3"),
    ({"gold": "2"}, "line 7: field 'gold' is '2', not a choice number in 1..3"),
    ({"gold": False}, "line 7: field 'gold' is False, not a choice number in 1..3"),
    ({"correct": 1}, "line 7: field 'correct' is 1, not true/false/null"),
])
def test_a_record_is_refused_naming_where_and_the_field(change, message):
    from rag.record import Prediction, RecordError

    if change == "not a dict":
        d = ["q"]
    elif message is None:
        d = {k: v for k, v in _GOOD.items() if k != "id"}
        message = "line 7: missing field(s) ['id']"
    else:
        d = {**_GOOD, **change}
    with pytest.raises(RecordError) as e:
        Prediction.from_dict(d, "line 7")
    assert str(e.value) == message
    ok = Prediction.from_dict({**_GOOD, "gold": 3, "correct": False, "n_choices": 3})
    assert (ok.prediction, ok.gold, ok.correct, ok.probs) == (2, 3, False, [0.2, 0.5, 0.3])
    with pytest.raises(RecordError, match=r"^record: missing field\(s\) \['route'\]$"):
        Prediction.from_dict({k: v for k, v in _GOOD.items() if k != "route"})
