"""Leave-one-family-out evaluation of the classifier router: for each family, train on all the others and
route the left-out family (evaluation-only families, such as the real 수능 사회 items of ``ksat-social``, are
routed by the model trained on every training family) — how the router does on a kind of question it has never seen, which is what the
real 수능 is to it. Each 사회 family is also routed with its choice count changed (a fifth choice taken from
another question of the family for 4-choice items, one wrong choice dropped from 5-choice items): the
route must not depend on how many choices there are.

    rows = leave_one_family_out(root)            # one FamilyResult per family
    rows = leave_one_family_out(root, thresholds=FRONTIER_THRESHOLDS)
    threshold_frontier(rows)                     # the same folds routed with other router.threshold values
    python -m eval.router lofo [--families a,b] [--out DIR]
"""
from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from common.config import EncoderConfig, RouterConfig
from rag.data.question import Question
from rag.router.base import SOCIAL, uncertain_mask
from rag.router.features import FeatureExtractor
from rag.router.model import LinearModel, has_passages, sigmoid
from rag.router.params import RouterParams
from rag.router.second_opinion import asks_second_opinion, with_second_opinion
from rag.router.student import TopicStudent
from router_training.encoding import CachedTopicFeatures
from router_training.families import FAMILIES, cap, family_weights, load_families
from router_training.fit import fit_linear


@dataclass
class FamilyResult:
    family: str
    domain: str
    n: int
    accuracy: float  # label at the threshold
    routed_social: float  # share sent down the 사회 path with ``router.uncertain: retrieve``
    uncertain: float  # share the router was unsure of
    changed_count_social: float | None  # 사회 families: share still 사회 with a choice added / removed
    synthetic: bool
    eval_only: bool = False
    #: threshold → (p_social of every question routed with that ``router.threshold``, the same with the choice
    #: count changed for 사회 families, else None): what ``threshold_frontier`` reads; left out of ``summary``
    scores: dict = field(default_factory=dict, repr=False, compare=False)


def change_choice_count(questions: list[Question]) -> list[Question]:
    """4-choice items get a fifth choice (a choice of another question of the same list, deterministic by
    id); 5-or-more-choice items lose one wrong choice. The answer index stays right."""
    pool = [c for q in questions for c in q.choices]
    out = []
    for q in questions:
        rng = random.Random(q.id)
        if q.n_choices <= 4:
            extra = rng.choice(pool)
            while extra in q.choices and len(set(pool)) > q.n_choices:
                extra = rng.choice(pool)
            out.append(q.model_copy(update={"choices": [*q.choices, extra]}))
        else:
            wrong = [i for i in range(q.n_choices) if q.answer is None or i != q.answer - 1]
            drop = rng.choice(wrong)
            keep = [i for i in range(q.n_choices) if i != drop]
            out.append(q.model_copy(update={
                "choices": [q.choices[i] for i in keep],
                "answer": None if q.answer is None else keep.index(q.answer - 1) + 1}))
    return out


def leave_one_family_out(root: Path, names: list[str] | None = None, params: RouterParams | None = None,
                         cfg: RouterConfig | None = None, progress=None, topic: EncoderConfig | None = None,
                         student: TopicStudent | None = None, second_opinion: EncoderConfig | None = None,
                         stem_cache: Path | None = None, thresholds: Sequence[float] = ()) -> list[FamilyResult]:
    """Train without each family of ``names`` (default: all registered) and route it. Every family stays in
    training for the other folds, capped at ``params.train_cap`` rows; the left-out family is routed in full.
    ``topic``: the encoder of the opt-in topic block on the router itself; ``student``: a topic student (fitted on
    knowledge-base text only, never on a family's rows, so one student serves every fold); ``second_opinion``: the
    encoder of the second opinion, whose model is fitted in each fold too (stems cached in ``stem_cache``);
    ``thresholds``: other ``router.threshold`` values every family is also routed with (``threshold_frontier``)."""
    params = params or RouterParams()
    vectors = params.embedding_weight > 0 and params.n_anchors > 0
    if (topic is not None or second_opinion is not None or student is not None) and not vectors:
        raise ValueError("the encoder's topic and the topic student are weighed with the morpheme vectors: they need "
                         "embedding_weight > 0 and n_anchors > 0")
    topic_fx = (CachedTopicFeatures(topic, params.lexicon.prototypes, params.topic_weight, stem_cache)
                if topic is not None else None)
    fx = FeatureExtractor(params, vectors=vectors, topic=topic_fx, student=student)
    fams = load_families(root, names)
    feats, shifted = family_features(fams, fx)
    second = None
    if second_opinion is not None:
        block = CachedTopicFeatures(second_opinion, params.lexicon.prototypes, params.topic_weight, stem_cache)
        second = SecondOpinionFeatures(*topic_features(fams, feats, shifted, block))
    return folds_from_features(fams, feats, shifted, params, cfg=cfg, progress=progress, second=second,
                               topic=topic is not None, thresholds=thresholds)


@dataclass
class SecondOpinionFeatures:
    """The second model's features of every family (``topic_features``)."""
    feats: dict
    shifted: dict


def topic_features(fams: dict[str, list[Question]], feats: dict, shifted: dict, topic) -> tuple[dict, dict]:
    """``feats``/``shifted`` with the encoder's topic block of each question's stem appended to the vector block
    (the topic reads the stem only, so a changed choice count keeps it): the second model's features, at the cost
    of one encoding of every stem (cached by ``topic``)."""
    f2, s2 = {}, {}
    for name, qs in fams.items():
        block = topic(qs)
        f2[name] = _append(feats[name], block)
        if name in shifted:
            s2[name] = _append(shifted[name], block)
    return f2, s2


def _append(feats, block):
    return [replace(f, embedding=np.concatenate([f.embedding, b])) for f, b in zip(feats, block)]


def family_features(fams: dict[str, list[Question]], extractor: FeatureExtractor) -> tuple[dict, dict]:
    """Features of every family's questions and, for 사회 families, of the same questions with their choice count
    changed (``change_choice_count``)."""
    feats, shifted = {}, {}
    for name, qs in fams.items():
        feats[name] = extractor(qs)
        if FAMILIES.get(name).domain == SOCIAL:
            shifted[name] = extractor(change_choice_count(qs))
    return feats, shifted


def folds_from_features(fams: dict[str, list[Question]], feats: dict, shifted: dict, params: RouterParams,
                        cfg: RouterConfig | None = None, progress=None, second: SecondOpinionFeatures | None = None,
                        topic: bool = False, thresholds: Sequence[float] = ()) -> list[FamilyResult]:
    """The folds of ``leave_one_family_out`` over features already extracted (``family_features``): a study can
    extend the features and reuse the same folds. ``second``: the second opinion's features; its model is fitted in
    each fold as well. ``topic``: the features carry the encoder's topic block."""
    cfg = cfg or RouterConfig(name="classifier")
    results = []
    folds: list[str | None] = [n for n in fams if not FAMILIES.get(n).eval_only]
    if len(folds) < len(fams):
        folds.append(None)
    for held in folds:
        t = time.time()
        training = [n for n in fams if n != held and not FAMILIES.get(n).eval_only]
        rows = [r for n in training for r in _capped(fams[n], feats[n], params.train_cap)]
        if len({q.domain for q, _ in rows}) < 2:
            raise ValueError(f"leaving out {held!r} leaves one domain only; give families of both domains")
        model = _fit(rows, params, topic)
        second_model = None
        if second is not None:
            second_model = _fit([r for n in training for r in _capped(fams[n], second.feats[n],
                                                                     params.second_opinion_cap)], params, True)
        # a left-out family is routed by the model trained without it; evaluation-only families (never
        # trained on) by the model trained on every other family (the last fold, held = None)
        routed = [held] if held else [n for n in fams if FAMILIES.get(n).eval_only]
        for name in routed:
            decide = _decider(model, second_model, second, name, cfg, params.second_opinion_weight)
            results.append(_route_family(decide, name, fams[name], feats[name], shifted.get(name), cfg,
                                         thresholds))
            if progress:
                progress(results[-1], time.time() - t)
    return results


def _capped(qs: list[Question], feats: list, n: int) -> list[tuple]:
    """(question, features) of the at most ``n`` rows of a family kept for training (``families.cap``)."""
    keep = {q.id for q in cap(qs, n)}
    return [(q, f) for q, f in zip(qs, feats) if q.id in keep]


def _fit(rows: list[tuple], params: RouterParams, topic: bool) -> LinearModel:
    """The classifier fitted on (question, features) rows, each family weighed equally within its domain."""
    qs = [q for q, _ in rows]
    weights = family_weights(qs) if params.balance_families else None
    return fit_linear([f for _, f in rows], [int(q.domain == SOCIAL) for q in qs], weights, params, topic=topic)


def _decider(model: LinearModel, second_model: LinearModel | None, second: SecondOpinionFeatures | None, name: str,
             cfg: RouterConfig, weight: float):
    """``decide(feats, shifted: bool, thresholds)`` → ({threshold: p_social}, coverage) of a family's questions as
    the router routes them with each ``router.threshold``: the words alone, or with the second opinion where it is
    asked at that threshold (``second_opinion.with_second_opinion``). The first model runs once; the second once,
    over the questions any threshold asks it about."""
    def decide(feats, is_shifted: bool, thresholds: Sequence[float]):
        d, cov = model.decision(feats), model.coverage(feats)
        if second_model is None:
            p = sigmoid(d)
            return {t: p for t in thresholds}, cov
        cfgs = {t: cfg.model_copy(update={"threshold": float(t)}) for t in thresholds}
        f2 = (second.shifted if is_shifted else second.feats)[name]
        passage = has_passages(feats)
        asked = np.flatnonzero(np.any([asks_second_opinion(passage, d, cov, c) for c in cfgs.values()], axis=0))
        said = np.zeros(len(d))
        if asked.size:
            said[asked] = second_model.decision([f2[i] for i in asked])
        return {t: sigmoid(with_second_opinion(d, passage, cov, lambda idx: said[idx], weight, c))
                for t, c in cfgs.items()}, cov
    return decide


def _route_family(decide, name: str, qs: list[Question], feats, shifted, cfg: RouterConfig,
                  thresholds: Sequence[float] = ()) -> FamilyResult:
    fam = FAMILIES.get(name)
    gold = np.array([q.domain == SOCIAL for q in qs])
    ts = sorted({float(cfg.threshold), *map(float, thresholds)})
    ps, coverage = decide(feats, False, ts)
    changed_ps = None if shifted is None else decide(shifted, True, ts)[0]
    scores = {t: (ps[t], None if changed_ps is None else changed_ps[t]) for t in ts}
    p = ps[cfg.threshold]
    unsure = uncertain_mask(p, coverage, cfg)
    accuracy, changed = _shares_at(gold, *scores[cfg.threshold], cfg.threshold)
    return FamilyResult(name, fam.domain, len(gold), accuracy, float(np.mean((p >= cfg.threshold) | unsure)),
                        float(np.mean(unsure)), changed, fam.synthetic, fam.eval_only, scores=scores)


def _shares_at(social, p: np.ndarray, changed: np.ndarray | None, t: float) -> tuple[float, float | None]:
    """(accuracy of the routes ``p_social ≥ t`` against ``social`` — per question or one bool —, share of the
    changed-count routes still 사회, or None): the one rule ``_route_family`` and ``_at_threshold`` both read."""
    return (float(np.mean((p >= t) == social)),
            None if changed is None else float(np.mean(changed >= t)))


def table(results: list[FamilyResult]):
    """The leave-one-family-out results as a rich table."""
    from rich.table import Table

    t = Table(title="leave one family out: trained without the family, routed on it", title_justify="left")
    for c in ("family", "domain", "n", "accuracy", "→ 사회 path (uncertain: retrieve)", "uncertain",
              "사회 kept with a choice added/removed"):
        t.add_column(c, justify="left" if c in ("family", "domain") else "right")
    for r in results:
        t.add_row(r.family + (" (synthetic)" if r.synthetic else ""), r.domain, str(r.n), f"{r.accuracy:.3f}",
                  f"{r.routed_social:.3f}", f"{r.uncertain:.3f}",
                  "-" if r.changed_count_social is None else f"{r.changed_count_social:.3f}")
    return t


#: the 5-choice 사회 families: sat-history (left out) and ksat-social (never trained on)
FIVE_CHOICE_FAMILIES = ("sat-history", "ksat-social")


def five_choice_social(results: list[FamilyResult]) -> float:
    """The lowest of: the 5-choice 사회 families (``FIVE_CHOICE_FAMILIES``) and every real 사회 family routed with its
    choice count changed (nan when none was routed)."""
    five = [r.accuracy for r in results if r.family in FIVE_CHOICE_FAMILIES]
    five += [r.changed_count_social for r in results if r.changed_count_social is not None and not r.synthetic]
    return min(five) if five else float("nan")


def summary(results: list[FamilyResult]) -> dict:
    real = [r for r in results if not r.synthetic]
    changed = [r.changed_count_social for r in real if r.changed_count_social is not None]
    return {"worst_family": min(r.accuracy for r in real) if real else float("nan"),
            "worst_family_name": min(real, key=lambda r: r.accuracy).family if real else None,
            "changed_count_social": min(changed) if changed else float("nan"),
            "families": [{k: v for k, v in asdict(r).items() if k != "scores"} for r in results]}


#: thresholds ``threshold_frontier`` reads the folds at by default (``router.threshold``; 0.5 is the shipped one)
FRONTIER_THRESHOLDS = (0.3, 0.4, 0.45, 0.5, 0.55, 0.6, 0.7)


@dataclass
class FrontierPoint:
    threshold: float
    worst_korean: float  # lowest accuracy over the real 국어 families left out
    worst_korean_name: str
    worst_social: float  # lowest accuracy over the real 사회 families (left out or never trained on)
    worst_social_name: str
    five_choice_social: float  # as ``five_choice_social``, at this threshold
    worst_family: float  # min(worst_korean, worst_social)


def _at_threshold(r: FamilyResult, t: float) -> FamilyResult:
    """``r`` as routed with ``router.threshold`` ``t``: its accuracy and changed-count share read from ``r.scores``."""
    accuracy, changed = _shares_at(r.domain == SOCIAL, *r.scores[t], t)
    return replace(r, accuracy=accuracy, changed_count_social=changed)


def threshold_frontier(results: list[FamilyResult]) -> list[FrontierPoint]:
    """The folds routed with other ``router.threshold`` values (``leave_one_family_out(..., thresholds=...)``; the
    same fitted models, each family re-decided as the router would, the second opinion asked where it would be at
    that threshold): the worst real 국어 family, the worst real 사회 family and the five-choice 사회 figure at each. A
    lower threshold sends more of both domains to 사회 (whose path retrieves): what it buys on real 수능 사회 and
    costs on left-out 국어 families."""
    real = [r for r in results if not r.synthetic and r.scores]
    if not real:
        raise ValueError("no real family with per-question scores to read the frontier from")
    out = []
    for t in sorted(set.intersection(*(set(r.scores) for r in real))):
        at = [_at_threshold(r, t) for r in real]
        wk = min((r for r in at if r.domain != SOCIAL), key=lambda r: r.accuracy, default=None)
        ws = min((r for r in at if r.domain == SOCIAL), key=lambda r: r.accuracy, default=None)
        out.append(FrontierPoint(float(t), wk.accuracy if wk else float("nan"), wk.family if wk else "-",
                                 ws.accuracy if ws else float("nan"), ws.family if ws else "-",
                                 five_choice_social(at), min(r.accuracy for r in at)))
    return out


def frontier_table(points: list[FrontierPoint]):
    """``threshold_frontier`` as a rich table."""
    from rich.table import Table

    t = Table(title="the same folds at other router.threshold values (lower: more questions down the 사회 path)",
              title_justify="left")
    for c in ("threshold", "worst 국어 family", "worst 사회 family", "five-choice 사회", "worst family"):
        t.add_column(c, justify="right")
    for p in points:
        t.add_row(f"{p.threshold:.2f}", f"{p.worst_korean:.3f} {p.worst_korean_name}",
                  f"{p.worst_social:.3f} {p.worst_social_name}", f"{p.five_choice_social:.3f}",
                  f"{p.worst_family:.3f}")
    return t

