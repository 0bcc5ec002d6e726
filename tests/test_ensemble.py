"""eval.ensemble on fixture runs whose answers are computed by hand."""
from __future__ import annotations

import csv
import json

import pytest

from eval.ensemble import EnsembleError, align, combine, crossfit, main, simplex_grid
from rag.record import Prediction, write_details


def rec(qid, probs, gold=None, route="social", domain=None):
    pred = max(range(len(probs)), key=lambda j: probs[j]) + 1
    return Prediction(id=qid, n_choices=len(probs), probs=list(probs), prediction=pred, route=route, domain=domain,
                      gold=gold, correct=None if gold is None else pred == gold)


def write_run(path, records):
    path.mkdir(parents=True)
    write_details(path / "details.jsonl", records)
    return path


# three members, four questions (gold: 1, 2, 3, 1)
A = [rec("q1", [.6, .3, .1, 0], 1), rec("q2", [.5, .4, .1, 0], 2), rec("q3", [.1, .2, .7, 0], 3),
     rec("q4", [.2, .5, .3, 0], 1)]
B = [rec("q1", [.2, .7, .1, 0], 1), rec("q2", [.1, .8, .1, 0], 2), rec("q3", [.3, .4, .3, 0], 3),
     rec("q4", [.4, .3, .3, 0], 1)]
C = [rec("q1", [.4, .1, .5, 0], 1), rec("q2", [.2, .7, .1, 0], 2), rec("q3", [.2, .1, .7, 0], 3),
     rec("q4", [.1, .1, .2, .6], 1)]


def members():
    return align([("A", A), ("B", B), ("C", C)])


def test_vote_majority_and_tie_by_summed_probability():
    recs, _ = combine(members(), "vote")
    # q1: votes 1,2,3 → three-way tie; summed probs 1.2, 1.1, 0.7 → 1
    # q2: votes 1,2,2 → 2;  q3: votes 3,2,3 → 3;  q4: votes 2,1,4 → tie; sums .7, .9, .8, .6 → 2
    assert [r.prediction for r in recs] == [1, 2, 3, 2]
    assert recs[1].probs == pytest.approx([1 / 3, 2 / 3, 0, 0])
    assert [r.correct for r in recs] == [True, True, True, False]


def test_soft_is_the_mean_of_probabilities():
    recs, _ = combine(members(), "soft")
    # q1 mean .4, .367, .233 → 1; q4 mean .233, .3, .267, .2 → 2
    assert [r.prediction for r in recs] == [1, 2, 3, 2]
    assert recs[0].probs == pytest.approx([1.2 / 3, 1.1 / 3, 0.7 / 3, 0])


def test_runs_on_other_questions_are_refused_naming_the_ids():
    with pytest.raises(EnsembleError, match=r"B was run on other questions: 1 of A's questions are missing.*q4"):
        align([("A", A), ("B", B[:3])])
    with pytest.raises(EnsembleError, match="q9"):
        align([("A", A), ("B", B[:3] + [rec("q9", [.5, .5, 0, 0])])])
    with pytest.raises(EnsembleError, match="at least two"):
        align([("A", A)])


def test_simplex_grid():
    g = simplex_grid(3, 4)
    assert len(g) == 15 and g.sum(axis=1) == pytest.approx(1) and (g >= 0).all()


def _many(n=40):
    """Member good is right on every question, member bad always says 4; gold cycles 1..3."""
    good = [rec(f"q{i}", [.7 if j == i % 3 else .1 for j in range(4)], i % 3 + 1) for i in range(n)]
    bad = [rec(f"q{i}", [.1, .1, .1, .7], i % 3 + 1) for i in range(n)]
    return align([("good", good), ("bad", bad)])


def test_weighted_fits_weights_and_never_scores_a_question_it_was_fitted_on():
    m = _many()
    recs, fitted = combine(m, "weighted", folds=4)
    assert fitted["weights"]["good"] == pytest.approx(1.0) and all(r.correct for r in recs)
    seen = []

    def spy(idx):
        seen.append(set(idx))
        return len(seen)

    params, _ = crossfit(m, 4, spy)
    assert seen[0] == set(range(40))  # the fit on all labelled questions
    for i, p in enumerate(params):
        assert i not in seen[p - 1]  # question i is scored with a fit that did not see it


def test_weighted_needs_labels():
    m = align([("A", [rec("x", [.5, .5])]), ("B", [rec("x", [.4, .6])])])
    with pytest.raises(EnsembleError, match="labelled questions"):
        combine(m, "weighted")


def test_per_domain_picks_the_best_member_per_route():
    n = 40
    gold = [i % 2 + 1 for i in range(n)]
    route = ["korean" if i < n // 2 else "social" for i in range(n)]
    # kor is right on 국어 and wrong on 사회; soc the opposite
    kor = [rec(f"q{i}", [.9, .1] if (gold[i] == 1) == (route[i] == "korean") else [.1, .9], gold[i], route[i])
           for i in range(n)]
    soc = [rec(f"q{i}", [.9, .1] if (gold[i] == 1) == (route[i] == "social") else [.1, .9], gold[i], route[i])
           for i in range(n)]
    recs, fitted = combine(align([("kor", kor), ("soc", soc)]), "per-domain", folds=5)
    assert fitted["member_per_domain"] == {"korean": "kor", "social": "soc"}
    assert all(r.correct for r in recs)


def test_cli_writes_the_run_files_and_the_member_table(tmp_path, capsys):
    runs = [write_run(tmp_path / n, r) for n, r in (("A", A), ("B", B), ("C", C))]
    out = tmp_path / "ens"
    assert main([*map(str, runs), "--method", "vote", "--out", str(out)]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("RESULT accuracy=0.7500")
    with open(out / "predictions.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [(r["id"], r["answer"]) for r in rows] == [("q1", "1"), ("q2", "2"), ("q3", "3"), ("q4", "2")]
    m = json.loads((out / "metrics.json").read_text())
    e = m["ensemble"]
    assert e["members"][str(runs[0])]["accuracy"] == 0.5 and e["members"]["ensemble"]["accuracy"] == 0.75
    assert e["best_member"] == str(runs[0])  # all members 0.5: the first
    assert "mcnemar_vs_best" in e and "## Ensemble (vote)" in (out / "report.md").read_text()
    assert (out / "accuracy_by_domain.png").exists() or not m["by_domain"]


def test_cli_refuses_mismatched_runs(tmp_path, capsys):
    a = write_run(tmp_path / "A", A)
    b = write_run(tmp_path / "B", B[:2])
    with pytest.raises(SystemExit) as e:
        main([str(a), str(b), "--method", "soft", "--out", str(tmp_path / "o")])
    assert e.value.code == 2 and "q3" in capsys.readouterr().err


def test_members_scored_against_other_answers_and_an_out_that_is_a_member_are_refused(tmp_path, capsys):
    other = [A[0], rec("q2", [.5, .4, .1, 0], 3), *A[2:]]  # q2's gold differs: other data
    with pytest.raises(EnsembleError, match="q2 has gold answer 3, A has 2"):
        align([("A", A), ("other", other)])
    a, b = write_run(tmp_path / "A", A), write_run(tmp_path / "B", B)
    before = (a / "details.jsonl").read_bytes()
    with pytest.raises(SystemExit):
        main([str(a), str(b), "--method", "soft", "--out", str(a)])
    assert "one of the members" in capsys.readouterr().err and (a / "details.jsonl").read_bytes() == before


def _fold_trap(n=40):
    """Two members over two folds (by ``hash_bucket``, as ``crossfit`` splits): ``fold0`` is right on every fold-0
    question and wrong on every fold-1 one; ``steady`` is right on every third question."""
    from rag.data.loaders import hash_bucket

    ids = [f"t{i}" for i in range(n)]
    fold = [hash_bucket(q, 2) for q in ids]
    gold = [1] * n
    steady = [rec(q, [.6, .4] if i % 3 == 0 else [.4, .6], 1) for i, q in enumerate(ids)]
    fold0 = [rec(q, [.9, .1] if f == 0 else [.1, .9], 1) for q, f in zip(ids, fold)]
    return align([("steady", steady), ("fold0", fold0)]), fold, gold


@pytest.mark.parametrize("method", ["per-domain", "weighted"])
def test_fitted_ensembles_answer_each_question_with_a_fit_that_never_saw_it(method):
    """Fitted on all the data, the answer of every question would come from the same fit; cross-fitted, fold-1
    questions are answered by what fold 0 alone says (the fold0 member, wrong there) and fold-0 questions by what
    fold 1 alone says (the steady member)."""
    m, fold, _ = _fold_trap()
    recs, _ = combine(m, method, folds=2)
    by_member = {name: [r.prediction for r in m.records[k]] for k, name in enumerate(m.names)}
    for i, r in enumerate(recs):
        expected = by_member["steady"][i] if fold[i] == 0 else by_member["fold0"][i]
        assert r.prediction == expected, (i, fold[i])
    assert {fold[i] for i in range(len(recs))} == {0, 1}
