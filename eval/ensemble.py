"""``python -m eval.ensemble RUN_DIR RUN_DIR ... --method vote|soft|weighted|per-domain --out DIR [--folds 5]``

Combines the ``details.jsonl`` of several ``rag.predict`` / ``eval.run`` runs over the same questions (runs whose
question ids differ are refused, naming the missing ids):

| method | answer |
|---|---|
| ``vote`` | the choice most members predict; a tie goes to the tied choice with the largest summed probability |
| ``soft`` | the mean of the members' probabilities |
| ``weighted`` | a weighted mean of the members' probabilities, weights on a simplex grid fitted by log-likelihood on labelled questions |
| ``per-domain`` | per routed domain (국어/사회, the members' majority route), the member most accurate on labelled questions |

The fitted methods never score a question with parameters fitted on it: labelled questions are cross-fitted
(``--folds`` stable folds by id hash: each fold is answered with weights / choices fitted on the other folds);
unlabelled questions (e.g. the competition test) use the parameters fitted on every labelled question. So give
the members' runs on competition-dev *and* test together, or fit on dev and read the reported weights.

Writes into DIR what ``eval.run`` writes (``predictions.csv``, ``details.jsonl``, ``metrics.json``, ``report.md``,
charts), each member's accuracy overall and per domain beside the ensemble's, the exact McNemar test of the
ensemble against the best member, and the fitted parameters (``ensemble.json``). Last line as ``eval.run``:
``RESULT accuracy=… korean=… social=…``.
"""
from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from common.cli import command, fail, positive_int
from common.registry import Registry
from rag.data import write_submission
from rag.data.loaders import hash_bucket
from rag.record import Prediction, RecordError, read_run, write_details

from .metrics import compute_metrics, mcnemar
from .report import fmt_ci, result_line, write_report


class EnsembleError(ValueError):
    """Runs that cannot be combined, or a method that cannot be fitted."""


@dataclass
class Members:
    """The runs' records aligned by question: ``records[m][i]`` is member m's record of question i."""

    names: list[str]
    records: list[list[Prediction]]

    @property
    def ids(self) -> list[str]:
        return [r.id for r in self.records[0]]

    def probs(self, i: int) -> np.ndarray:
        """(members, choices) probabilities of question i."""
        return np.array([recs[i].probs for recs in self.records], dtype=np.float64)

    def gold(self, i: int) -> int | None:
        return next((recs[i].gold for recs in self.records if recs[i].gold is not None), None)

    def route(self, i: int) -> str:
        """The members' majority route (ties: the first member's)."""
        routes = [recs[i].route for recs in self.records]
        top = Counter(routes).most_common()
        best = [r for r, c in top if c == top[0][1]]
        return routes[0] if routes[0] in best else best[0]


def align(named: list[tuple[str, list[Prediction]]]) -> Members:
    """Check the runs cover the same questions with the same choice counts; order by the first run."""
    if len(named) < 2:
        raise EnsembleError("an ensemble needs at least two runs")
    first_name, first = named[0]
    order = [r.id for r in first]
    for name, recs in named:
        ids = [r.id for r in recs]
        dupes = sorted(k for k, c in Counter(ids).items() if c > 1)
        if dupes:
            raise EnsembleError(f"{name}: duplicate question ids {dupes[:5]}")
        if set(ids) != set(order):
            missing = sorted(set(order) - set(ids))
            extra = sorted(set(ids) - set(order))
            parts = []
            if missing:
                parts.append(f"{len(missing)} of {first_name}'s questions are missing from it (e.g. {missing[:5]})")
            if extra:
                parts.append(f"it has {len(extra)} questions {first_name} lacks (e.g. {extra[:5]})")
            raise EnsembleError(f"{name} was run on other questions: {'; '.join(parts)}")
    aligned = []
    for name, recs in named:
        by_id = {r.id: r for r in recs}
        row = [by_id[k] for k in order]
        for a, b in zip(aligned[0] if aligned else row, row):
            if len(a.probs) != len(b.probs):
                raise EnsembleError(f"{name}: question {a.id} has {len(b.probs)} choices, {first_name} has "
                                    f"{len(a.probs)}")
            if a.gold is not None and b.gold is not None and a.gold != b.gold:
                raise EnsembleError(f"{name}: question {a.id} has gold answer {b.gold}, {first_name} has {a.gold}: "
                                    f"the runs were scored against different answers (other data?)")
        aligned.append(row)
    return Members([n for n, _ in named], aligned)


# --------------------------------------------------------------------------- methods
#: a method maps the members to (probabilities per question, predictions, fitted parameters for the report)
Method = Callable[["Members", int, int], tuple[list[np.ndarray], list[int], dict]]
METHODS: Registry[Method] = Registry("ensemble method")


@METHODS.register("vote")
def vote(members: Members, folds: int = 5, grid: int = 10):
    probs, preds = [], []
    for i in range(len(members.ids)):
        p = members.probs(i)
        counts = np.bincount(p.argmax(axis=1), minlength=p.shape[1]).astype(np.float64)
        tied = np.flatnonzero(counts == counts.max())
        preds.append(int(tied[np.argmax(p.sum(axis=0)[tied])]) + 1)
        probs.append(counts / counts.sum())
    return probs, preds, {}


@METHODS.register("soft")
def soft(members: Members, folds: int = 5, grid: int = 10):
    probs = [members.probs(i).mean(axis=0) for i in range(len(members.ids))]
    return probs, [int(p.argmax()) + 1 for p in probs], {}


def simplex_grid(n: int, steps: int) -> np.ndarray:
    """Every weight vector of ``n`` non-negative multiples of 1/steps summing to 1."""
    pts = [c for c in itertools.product(range(steps + 1), repeat=n - 1) if sum(c) <= steps]
    return np.array([[*c, steps - sum(c)] for c in pts], dtype=np.float64) / steps


def fit_weights(members: Members, idx: list[int], steps: int) -> np.ndarray:
    """The grid weights maximising the log-likelihood of the gold choice on questions ``idx`` (ties: the most
    even weights, i.e. the first found in a grid sorted by distance from uniform)."""
    m = len(members.names)
    grid = simplex_grid(m, steps) if m <= 6 else np.eye(m)
    grid = grid[np.argsort(((grid - 1 / m) ** 2).sum(axis=1), kind="stable")]
    gold_p = np.array([members.probs(i)[:, members.gold(i) - 1] for i in idx])  # (questions, members)
    ll = np.log(np.clip(gold_p @ grid.T, 1e-12, None)).sum(axis=0)
    # equal up to rounding is a tie (0.6·w + 0.6·(1 − w) is not exactly 0.6 for every w)
    return grid[int(np.flatnonzero(ll >= ll.max() - 1e-9 * max(1.0, abs(ll.max())))[0])]


def crossfit(members: Members, folds: int, fit: Callable[[list[int]], object]
             ) -> tuple[list[object], dict]:
    """Parameters for every question, fitted on labelled questions of the other folds (unlabelled questions:
    on all labelled ones). Returns (per-question parameters, {"all": ..., "folds": [...]})."""
    labelled = [i for i in range(len(members.ids)) if members.gold(i) is not None]
    if len(labelled) < 2:
        raise EnsembleError("this method fits on labelled questions (gold answers) and the runs have fewer than 2: "
                            "include the members' runs on competition-dev")
    k = max(2, min(folds, len(labelled)))
    fold_of = {i: hash_bucket(members.ids[i], k) for i in labelled}
    fitted_all = fit(labelled)
    per_fold = {}
    for f in range(k):
        train = [i for i in labelled if fold_of[i] != f]
        if train and any(fold_of[i] == f for i in labelled):
            per_fold[f] = fit(train)
    params = [per_fold.get(fold_of[i], fitted_all) if i in fold_of else fitted_all for i in range(len(members.ids))]
    return params, {"all": fitted_all, "folds": [per_fold.get(f) for f in range(k)]}


@METHODS.register("weighted")
def weighted(members: Members, folds: int = 5, grid: int = 10):
    params, fitted = crossfit(members, folds, lambda idx: fit_weights(members, idx, grid))
    probs = [members.probs(i).T @ w for i, w in enumerate(params)]
    names = members.names
    report = {"weights": dict(zip(names, map(float, fitted["all"]))),
              "fold_weights": [None if w is None else dict(zip(names, map(float, w))) for w in fitted["folds"]]}
    return probs, [int(p.argmax()) + 1 for p in probs], report


def best_per_domain(members: Members, idx: list[int]) -> dict[str, int]:
    """Per routed domain, the member with most correct answers on ``idx`` (ties: the best overall, then first)."""
    def correct(m: int, sub: list[int]) -> int:
        return sum(members.records[m][i].prediction == members.gold(i) for i in sub)

    overall = [correct(m, idx) for m in range(len(members.names))]
    out = {}
    for dom in sorted({members.route(i) for i in range(len(members.ids))}):
        sub = [i for i in idx if members.route(i) == dom]
        out[dom] = max(range(len(members.names)), key=lambda m: (correct(m, sub), overall[m], -m))
    return out


@METHODS.register("per-domain")
def per_domain(members: Members, folds: int = 5, grid: int = 10):
    params, fitted = crossfit(members, folds, lambda idx: best_per_domain(members, idx))
    probs, preds = [], []
    for i, choice in enumerate(params):
        m = choice[members.route(i)]
        probs.append(np.asarray(members.records[m][i].probs, dtype=np.float64))
        preds.append(members.records[m][i].prediction)
    names = members.names
    report = {"member_per_domain": {d: names[m] for d, m in fitted["all"].items()},
              "fold_member_per_domain": [None if c is None else {d: names[m] for d, m in c.items()}
                                         for c in fitted["folds"]]}
    return probs, preds, report


# --------------------------------------------------------------------------- the run
def combine(members: Members, method: str, folds: int = 5, grid: int = 10) -> tuple[list[Prediction], dict]:
    probs, preds, fitted = METHODS.get(method)(members, folds, grid)
    out = []
    for i, (p, pred) in enumerate(zip(probs, preds)):
        base = members.records[0][i]
        gold = members.gold(i)
        out.append(replace(base, probs=[float(x) for x in p / p.sum()], prediction=int(pred), route=members.route(i),
                           gold=gold, correct=None if gold is None else pred == gold))
    return out, fitted


def member_table(members: Members, ensemble: list[Prediction]) -> dict:
    """Each member's and the ensemble's metrics, and McNemar of the ensemble against the best member."""
    rows = {name: compute_metrics(recs) for name, recs in zip(members.names, members.records)}
    rows["ensemble"] = compute_metrics(ensemble)
    scored = [i for i, r in enumerate(ensemble) if r.gold is not None]
    out: dict = {"members": {k: _summary(v) for k, v in rows.items()}}
    if scored:
        best = max(members.names, key=lambda n: (rows[n]["accuracy"], -members.names.index(n)))
        m_best = members.records[members.names.index(best)]
        test = mcnemar([bool(ensemble[i].correct) for i in scored], [m_best[i].prediction == m_best[i].gold
                                                                    for i in scored])
        out["best_member"] = best
        out["mcnemar_vs_best"] = test
    return out


def _summary(m: dict) -> dict:
    return {"n": m.get("n", 0), "accuracy": m.get("accuracy"), "ci95": m.get("ci95"),
            "by_domain": {d: {k: v[k] for k in ("n", "accuracy", "ci95")} for d, v in m["by_domain"].items()}}


def ensemble_markdown(method: str, table: dict, fitted: dict) -> list[str]:
    domains = sorted({d for r in table["members"].values() for d in r["by_domain"]})
    lines = [f"## Ensemble ({method})", "", "| run | n | accuracy [95% CI] | " + " | ".join(domains) + " |",
             "|---" * (3 + len(domains)) + "|"]
    for name, r in table["members"].items():
        cells = [fmt_ci(r["by_domain"].get(d, {})) for d in domains]
        label = f"**{name}**" if name == "ensemble" else name
        lines.append(f"| {label} | {r['n']} | {fmt_ci(r) if r['n'] else '–'} | " + " | ".join(cells) + " |")
    if "mcnemar_vs_best" in table:
        t = table["mcnemar_vs_best"]
        lines += ["", (f"McNemar, ensemble vs the best member ({table['best_member']}): ensemble right / member "
                       f"wrong {t['b']}, member right / ensemble wrong {t['c']}, p = {t['p_value']:.4f}.")]
    if fitted:
        lines += ["", "Fitted (cross-fitted on labelled questions; unlabelled ones use the fit on all labelled):",
                  "", "```json", json.dumps(fitted, ensure_ascii=False, indent=1), "```"]
    return [*lines, ""]


def run(run_dirs: list[Path], method: str, out: Path, folds: int = 5, grid: int = 10) -> dict:
    if any(Path(out).resolve() == Path(d).resolve() for d in run_dirs):
        raise EnsembleError(f"--out {out} is one of the members: the ensemble would overwrite that run; choose "
                            f"another directory")
    named = [(str(d), read_run(d)) for d in run_dirs]
    members = align(named)
    records, fitted = combine(members, method, folds, grid)
    out.mkdir(parents=True, exist_ok=True)
    write_details(out / "details.jsonl", records)
    write_submission([(r.id, r.prediction) for r in records], out / "predictions.csv")
    prov = {"method": method, "members": ", ".join(members.names), "folds": folds}
    table = member_table(members, records)
    m = write_report(out, prov, records, extra={"ensemble": {"method": method, **table, "fitted": fitted}})
    (out / "ensemble.json").write_text(json.dumps(m["ensemble"], ensure_ascii=False, indent=1), encoding="utf-8")
    with open(out / "report.md", "a", encoding="utf-8") as f:
        f.write("\n".join(ensemble_markdown(method, table, fitted)))
    return m


@command
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m eval.ensemble", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", type=Path, help="rag.predict / eval.run output directories")
    ap.add_argument("--method", required=True, choices=METHODS.names())
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--folds", type=positive_int, default=5, help="cross-fitting folds (weighted, per-domain)")
    ap.add_argument("--grid", type=positive_int, default=10, help="weighted: weights in steps of 1/GRID")
    args = ap.parse_args(argv)
    try:
        m = run(args.runs, args.method, args.out, args.folds, args.grid)
    except (EnsembleError, RecordError, FileNotFoundError) as e:
        fail(str(e))
    e = m["ensemble"]
    for name, r in e["members"].items():
        acc = "–" if r["accuracy"] is None else f"{r['accuracy']:.4f}"
        print(f"{name}: accuracy {acc} on {r['n']}", file=sys.stderr)
    if "mcnemar_vs_best" in e:
        print(f"McNemar vs best member {e['best_member']}: p = {e['mcnemar_vs_best']['p_value']:.4f}", file=sys.stderr)
    print(f"wrote {args.out / 'predictions.csv'}, details.jsonl, metrics.json, report.md", file=sys.stderr)
    print(result_line(m))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
