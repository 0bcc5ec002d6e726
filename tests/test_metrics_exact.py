"""Metric functions and ``compute_metrics`` field by field against hand-computed values (each value here is one a
mutation of ``eval/metrics`` changed while the coarser tests of ``test_eval.py`` still passed)."""
import pytest

from eval.metrics import brier, compute_metrics, ece, mcnemar, reliability, wilson
from rag.record import Prediction


def test_wilson_bounds_hold_where_rounding_would_leave_them():
    assert wilson(16, 16)[1] == 1.0  # the formula gives 1.0000000000000002 here
    assert wilson(0, 16)[0] == 0.0


def test_mcnemar_equal_discordant_counts_and_its_refusal():
    r = mcnemar([True, False, True], [False, True, True])  # b = c = 1: 2 · P[X ≤ 1] = 1.5, capped at 1
    assert (r["b"], r["c"], r["p_value"]) == (1, 1, 1.0)
    assert mcnemar([True], [True]) == {"b": 0, "c": 0, "p_value": 1.0}
    with pytest.raises(ValueError, match="^McNemar needs paired results of equal length$"):
        mcnemar([True], [True, False])


def test_reliability_bins_edges_and_empty_bins():
    bins = reliability([0.5, 0.75, 1.0], [True, False, True], bins=2)
    assert bins == [{"lo": 0.0, "hi": 0.5, "n": 1, "confidence": 0.5, "accuracy": 1.0},  # a bin holds its right edge
                    {"lo": 0.5, "hi": 1.0, "n": 2, "confidence": 0.875, "accuracy": 0.5}]
    ten = reliability([0.95], [True])
    assert len(ten) == 10 and [b["n"] for b in ten] == [0] * 9 + [1]
    assert ten[0] == {"lo": 0.0, "hi": 0.1, "n": 0, "confidence": None, "accuracy": None}


def test_ece_bins_and_single_question():
    assert ece([0.55, 0.95], [True, False]) == pytest.approx(0.5 * 0.45 + 0.5 * 0.95)  # 10 bins: one each
    assert ece([0.55, 0.95], [True, False], bins=2) == pytest.approx(abs(0.5 - 0.75))  # 2 bins: both in one
    assert ece([0.81, 0.89], [True, False]) == pytest.approx(abs(0.5 - 0.85))  # one bin of ten
    assert ece([0.81, 0.89], [True, False], bins=11) == pytest.approx(0.5 * 0.19 + 0.5 * 0.89)  # two of eleven
    assert ece([0.8], [True]) == pytest.approx(0.2)
    assert ece([], []) == 0.0
    assert brier([], []) == 0.0


def _records():
    """Ten scored questions (6 korean, 4 social; i = 0, 3, 6, 9 answered wrong; question 0 routed 사회) and one
    without gold."""
    recs = []
    for i in range(10):
        dom = "korean" if i < 6 else "social"
        gold = 1 + i % 4
        pred = gold if i % 3 else (gold % 4) + 1
        probs = [0.1] * 4
        probs[pred - 1] = 0.7
        score = 0.9 if i == 6 else 0.5
        recs.append(Prediction.from_dict({
            "id": f"q{i}", "source": "S" + dom[0], "subject": "law" if i == 7 else None, "domain": dom,
            "route": dom if i != 0 else "social", "n_choices": 4, "probs": probs, "prediction": pred, "gold": gold,
            "correct": pred == gold, "context_used": (1 if i == 9 else 2) if dom == "social" else 0,
            "retrieved": [{"chunk_id": "c", "score": score, "title": "t", "doc_id": "d", "stages": {}}]
            if dom == "social" else []}))
    recs.append(Prediction.from_dict({"id": "q10", "route": "korean", "n_choices": 4, "probs": [0.1, 0.1, 0.1, 0.7],
                                      "prediction": 4}))
    return recs


def test_compute_metrics_every_field():
    m = compute_metrics(_records())
    assert (m["n_total"], m["n"], m["accuracy"]) == (11, 10, pytest.approx(0.6))
    assert m["chance"] == pytest.approx(0.25)
    assert m["majority_answer"] == {"position": 1, "accuracy": pytest.approx(0.3)}  # gold 1 first of 1 and 2
    assert m["by_domain"]["korean"]["n"] == 6 and m["by_domain"]["korean"]["accuracy"] == pytest.approx(4 / 6)
    assert m["by_domain"]["social"]["accuracy"] == pytest.approx(0.5)
    assert {k: v["n"] for k, v in m["by_source"].items()} == {"Sk": 6, "Ss": 4}
    assert {k: v["n"] for k, v in m["by_subject"].items()} == {"law": 1, "unknown": 9}
    assert m["answer_positions"] == {"predicted": {1: 3, 2: 3, 3: 2, 4: 3}, "gold": {1: 3, 2: 3, 3: 2, 4: 2}}
    cal = m["calibration"]
    assert cal["ece"] == pytest.approx(0.1) and cal["brier"] == pytest.approx((6 * 0.12 + 4 * 1.32) / 10)
    assert len(cal["reliability"]) == 10 and cal["reliability"][6]["n"] == 10  # every confidence is 0.7
    assert len(compute_metrics(_records(), bins=4)["calibration"]["reliability"]) == 4
    assert m["router"] == {"n": 10, "accuracy": pytest.approx(0.9),
                           "confusion": {"korean->korean": 5, "korean->social": 1, "social->social": 4}}
    assert m["retrieval"] == {"share_with_context": pytest.approx(4 / 11), "mean_chunks_used": pytest.approx(7 / 11),
                              "mean_top_score": pytest.approx(0.6), "retrieved_questions": 4}


def test_compute_metrics_passes_its_bins_on_and_averages_over_one_record():
    recs = [Prediction.from_dict({"id": f"q{i}", "route": "korean", "n_choices": 2, "probs": [p, 1 - p],
                                  "prediction": 1, "gold": g, "correct": g == 1, "context_used": 3})
            for i, (p, g) in enumerate([(0.81, 1), (0.89, 2)])]
    assert compute_metrics(recs)["calibration"]["ece"] == pytest.approx(0.35)
    assert compute_metrics(recs, bins=11)["calibration"]["ece"] == pytest.approx(0.54)
    assert compute_metrics(recs[:1])["retrieval"]["mean_chunks_used"] == 3.0


def test_compute_metrics_without_gold_or_records():
    unscored = compute_metrics(_records()[10:])
    assert (unscored["n_total"], unscored["n"], unscored["accuracy"], unscored["ci95"]) == (1, 0, None, [0.0, 0.0])
    assert "chance" not in unscored and "calibration" not in unscored and "router" not in unscored
    empty = compute_metrics([])
    assert empty["retrieval"] == {"share_with_context": 0.0, "mean_chunks_used": 0.0, "mean_top_score": None,
                                  "retrieved_questions": 0}
