"""eval.ensemble's pieces at their edges: majority routes, ties towards even weights, the grid and fold counts,
what each cross-fitted question was fitted on, and what a combined record keeps (values a mutation of
``eval/ensemble.py`` changed while ``test_ensemble.py`` still passed)."""
from __future__ import annotations

import json

import numpy as np
import pytest
from test_ensemble import rec

from eval.ensemble import EnsembleError, Members, align, combine, crossfit, fit_weights


def test_members_route_is_the_majority_and_a_tie_goes_to_the_first_member():
    runs = [[rec("q", [.6, .4], route=r)] for r in ("korean", "social", "social")]
    assert Members(["a", "b", "c"], runs).route(0) == "social"
    assert Members(["a", "b"], runs[:2]).route(0) == "korean"
    assert Members(["b", "a"], runs[1::-1]).route(0) == "social"


def test_fit_weights_ties_go_to_the_most_even_weights_and_many_members_to_one():
    same = [rec(f"q{i}", [.6, .4], gold=1) for i in range(4)]
    two = align([("a", same), ("b", same)])
    assert fit_weights(two, [0, 1, 2, 3], 10).tolist() == [0.5, 0.5]  # every weighting is as likely: the even one
    assert fit_weights(two, [0, 1, 2, 3], 11).tolist() == pytest.approx([5 / 11, 6 / 11])
    good, bad = [rec(f"q{i}", [.9, .1], gold=1) for i in range(4)], [rec(f"q{i}", [.2, .8], gold=1) for i in range(4)]
    six = align([(str(m), good if m == 5 else bad) for m in range(6)])
    assert fit_weights(six, [0, 1, 2, 3], 2).tolist() == [0, 0, 0, 0, 0, 1.0]  # the simplex grid up to 6 members
    seven = align([(str(m), good if m == 3 else bad) for m in range(7)])
    assert fit_weights(seven, [0, 1, 2, 3], 10).tolist() == [0, 0, 0, 1.0, 0, 0, 0]  # beyond: one member each


def test_crossfit_fits_each_question_without_its_fold_and_unlabelled_ones_on_all():
    recs = [rec(f"q{i}", [.6, .4], gold=1 if i < 8 else None) for i in range(10)]
    members = align([("a", recs), ("b", recs)])
    params, fitted = crossfit(members, 5, lambda idx: tuple(idx))
    assert fitted["all"] == tuple(range(8)) and len(fitted["folds"]) == 5
    for i in range(8):
        assert i not in params[i] and params[i] in fitted["folds"]  # fitted on the other folds only
    assert params[8] == params[9] == fitted["all"]
    with pytest.raises(EnsembleError, match="^this method fits on labelled questions .* competition-dev$"):
        crossfit(align([("a", recs[7:]), ("b", recs[7:])]), 5, lambda idx: idx)
    two, _ = crossfit(align([("a", recs[6:8]), ("b", recs[6:8])]), 5, lambda idx: tuple(idx))
    assert two == [(1,), (0,)]  # two labelled questions are enough: two folds, each fitted on the other


def test_combined_records_keep_the_first_members_fields_majority_route_gold_and_normalised_probs():
    a = [rec("q1", [.2, .2], route="korean"), rec("q2", [.3, .1], gold=1)]
    a[0].source = "first"
    b = [rec("q1", [.2, .2], route="social"), rec("q2", [.1, .3], gold=None, route="social")]
    c = [rec("q1", [.2, .2], route="social"), rec("q2", [.2, .2], route="social")]
    out, _ = combine(align([("a", a), ("b", b), ("c", c)]), "soft")
    assert out[0].source == "first" and out[0].route == "social" and out[0].probs == [0.5, 0.5]
    assert out[0].gold is None and out[0].correct is None
    assert (out[1].gold, out[1].prediction, out[1].correct) == (1, 1, True)
    assert out[1].probs == pytest.approx([0.6 / 1.2, 0.6 / 1.2])


def test_weighted_defaults_five_folds_and_a_grid_of_tenths():
    recs = [rec(f"q{i}", [.6, .4], gold=1) for i in range(12)]
    _, fitted = combine(align([("a", recs), ("b", recs)]), "weighted")
    assert len(fitted["fold_weights"]) == 5 and fitted["weights"] == {"a": 0.5, "b": 0.5}
    assert np.allclose([w["a"] * 10 for w in fitted["fold_weights"] if w], 5)


def test_the_report_section_reads_as_computed(tmp_path, capsys):
    """The ensemble's section of report.md, whole: the member table by domain (Wilson intervals: 2 of 4 →
    [0.150, 0.850], 1 of 2 → [0.095, 0.905]), McNemar against the best member and the fitted weights."""
    from dataclasses import replace

    from test_ensemble import A, B, C, write_run

    from eval.ensemble import main

    def labelled(run):
        return [replace(r, domain="korean" if r.id in ("q1", "q2") else "social") for r in run]

    runs = [write_run(tmp_path / n, labelled(r)) for n, r in (("A", A), ("B", B), ("C", C))]
    out = tmp_path / "e"
    assert main([*map(str, runs), "--method", "weighted", "--folds", "2", "--grid", "2", "--out", str(out)]) == 0
    text = (out / "report.md").read_text(encoding="utf-8")
    section = text[text.index("## Ensemble"):].replace(str(tmp_path) + "/", "")
    row = "| 4 | 0.500 [0.150, 0.850] | 0.500 [0.095, 0.905] | 0.500 [0.095, 0.905] |"
    assert section == "\n".join([
        "## Ensemble (weighted)", "", "| run | n | accuracy [95% CI] | korean | social |", "|---|---|---|---|---|",
        f"| A {row}", f"| B {row}", f"| C {row}", f"| **ensemble** {row}", "",
        ("McNemar, ensemble vs the best member (A): ensemble right / member wrong 1, member right / ensemble wrong 1, "
        "p = 1.0000."), "",
        "Fitted (cross-fitted on labelled questions; unlabelled ones use the fit on all labelled):", "", "```json",
        ('{\n "weights": {\n  "A": 0.5,\n  "B": 0.5,\n  "C": 0.0\n },\n "fold_weights": [\n  {\n   "A": 0.0,\n'
        '   "B": 0.0,\n   "C": 1.0\n  },\n  {\n   "A": 0.5,\n   "B": 0.5,\n   "C": 0.0\n  }\n ]\n}'), "```", ""])
    saved = json.loads((out / "ensemble.json").read_text(encoding="utf-8"))
    assert saved["method"] == "weighted" and saved["best_member"] == str(runs[0])
    assert saved["fitted"]["weights"] == {str(r): w for r, w in zip(runs, (0.5, 0.5, 0.0))}


def test_the_run_writes_its_records_and_provenance_into_a_new_or_existing_nested_directory(tmp_path, capsys):
    from test_ensemble import A, B, write_run

    from eval.ensemble import main
    from rag.record import read_run

    runs = [write_run(tmp_path / n, r) for n, r in (("A", A), ("B", B))]
    out = tmp_path / "x" / "y" / "e"  # parents made
    for _ in range(2):  # and an existing directory is written into
        assert main([*map(str, runs), "--method", "soft", "--out", str(out)]) == 0
    recs = read_run(out)
    assert [r.id for r in recs] == ["q1", "q2", "q3", "q4"]
    assert [r.probs for r in recs] == [pytest.approx(list((np.array(a.probs) + b.probs) / 2)) for a, b in zip(A, B)]
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["provenance"] == {"method": "soft", "members": f"{runs[0]}, {runs[1]}", "folds": 5}
