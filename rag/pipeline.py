"""The conditional pipeline: route → (social: build query → retrieve → gate) → prompt → score.

``retrieval.query: per_choice`` retrieves once per choice (``rag.evidence``) and the prompt shows the evidence
grouped under each choice; the per-choice evidence also feeds ``scoring.method: evidence`` (the
retrieval-only answerer, no LLM, every question), ``scoring.evidence_weight`` (added to the LLM's
log-probabilities on 사회 routes) and ``retrieval.gate: evidence`` (context kept only when the evidence
separates the choices).

    pipe = Assembly().pipeline(cfg)                # rag.assembly builds and caches the parts
    records = pipe.run(questions)                  # one rag.record.Prediction per question
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import NamedTuple

import numpy as np

from common.config import RunConfig

from .data.question import Question
from .evidence import EvidenceAnswerer, EvidenceResult, choice_queries
from .llm.base import LLMRequestError
from .prompts import PromptBuilder
from .record import Prediction
from .router.base import ROUTERS, SOCIAL, Route, Router
from .scoring import SCORERS, Scorer, cyclic_orders, unpermute


def retrieval_query(q: Question, mode: str, max_chars: int = 1000) -> str:
    parts = [q.question]
    if "passage" in mode and q.paragraph:
        parts.append(q.paragraph[:max_chars])
    if "choices" in mode:
        parts.extend(q.choices)
    if q.question_plus and "passage" in mode:
        parts.append(q.question_plus[:300])
    return " ".join(p.strip() for p in parts if p and p.strip())


@dataclass
class Timing:
    route: float = 0.0
    retrieve: float = 0.0
    prompt: float = 0.0
    score: float = 0.0


@dataclass(frozen=True)
class Needs:
    """What a run's config needs built. ``llm``: prompts are scored, or the router is the LLM; ``answers_from_kb``:
    the scorer answers from per-choice evidence without an LLM (``scoring.method: evidence``); ``retriever``: a
    knowledge base is set and some question can be routed to 사회, or the answers come from it; ``evidence``:
    where there is a retriever, per-choice evidence is retrieved (that scorer, ``scoring.evidence_weight``,
    ``retrieval.gate: evidence`` or ``retrieval.query: per_choice``)."""
    llm: bool
    answers_from_kb: bool
    retriever: bool
    evidence: bool


def needs(cfg: RunConfig) -> Needs:
    """The one decision of what a config needs (``rag.assembly`` builds by it; the pipeline runs by it). Whether a
    scorer needs an LLM and whether a router can send a question to 사회 are said by the components themselves
    (``Scorer.needs_llm``, ``Router.routes_social``)."""
    router = ROUTERS.get(cfg.router.name)
    from_kb = not SCORERS.get(cfg.scoring.method).needs_llm
    retriever = bool(cfg.retrieval.kb) and (router.routes_social or from_kb)
    evidence = (from_kb or cfg.scoring.evidence_weight > 0 or cfg.retrieval.gate == "evidence"
                or cfg.retrieval.query == "per_choice")
    return Needs(llm=not from_kb or router.needs_llm, answers_from_kb=from_kb, retriever=retriever,
                 evidence=evidence)


class Prepared(NamedTuple):
    """What a batch of questions gets before scoring: routes, retrieved docs (per question, for the prompt),
    per-choice docs, evidence, the docs kept by the gate and the built prompt variants (the last two None when the
    answers come from the knowledge base)."""
    routes: list
    retrieved: list
    per_choice: dict
    evidence: list
    kept: list | None = None
    built: list | None = None


class Pipeline:
    """The stages of one run over parts it is handed (``rag.assembly.Assembly`` builds and shares them)."""

    def __init__(self, cfg: RunConfig, llm, router: Router, retriever, hints: dict[str, str], scorer: Scorer,
                 retrieval_cache: dict[str, list] | None = None):
        self.cfg, self.llm, self.router, self.retriever, self.scorer = cfg, llm, router, retriever, scorer
        self.needs = needs(cfg)
        if self.needs.answers_from_kb and retriever is None:
            raise ValueError("scoring.method=evidence answers from the knowledge base: set retrieval.kb")
        self.builder = PromptBuilder(llm.tokenizer, cfg.prompt) if llm is not None else None
        self.answerer = EvidenceAnswerer(retriever, cfg.retrieval.top_k, cfg.scoring.evidence_temperature) \
            if retriever is not None and self.needs.evidence else None
        self.hints = hints
        self.timing = Timing()
        self.retrieval_cache: dict[str, list] = {} if retrieval_cache is None else retrieval_cache

    # ------------------------------------------------------------------ stages
    def route(self, qs: Sequence[Question]) -> list[Route]:
        t = time.time()
        routes = self.router.route(qs)
        self.timing.route += time.time() - t
        return routes

    def _batch(self, queries: list[str]) -> list[list]:
        """Retrieved docs per query, cached by the retriever's fingerprint (KB + retrieval settings), ``top_k``
        and the query, so pipelines that share a cache reuse documents only when they would retrieve the same."""
        fp = getattr(self.retriever, "fingerprint", "") or f"object-{id(self.retriever)}"
        key = lambda qy: f"{fp}|{self.cfg.retrieval.top_k}|{qy}"
        missing = [qy for qy in dict.fromkeys(queries) if key(qy) not in self.retrieval_cache]
        if missing:
            for qy, docs in zip(missing, self.retriever.batch_retrieve(missing, self.cfg.retrieval.top_k)):
                self.retrieval_cache[key(qy)] = docs
        return [self.retrieval_cache[key(qy)] for qy in queries]

    def per_choice(self, qs: Sequence[Question], which: list[int]) -> dict[int, list[list]]:
        """[choice] -> docs for the questions ``which``; all their choices in one batch."""
        queries = [choice_queries(qs[i], self.answerer.passage_chars if self.answerer else 300) for i in which]
        flat = self._batch([qy for qq in queries for qy in qq])
        out, k = {}, 0
        for i, qq in zip(which, queries):
            out[i] = flat[k: k + len(qq)]
            k += len(qq)
        return out

    def retrieve(self, qs: Sequence[Question], routes: Sequence[Route]) -> tuple[list[list], dict[int, list[list]]]:
        """Docs per question for the prompt (empty for 국어 routes or without a retriever) and, when the run uses
        evidence, per-choice docs ({question index: [choice] -> docs}; every question with
        ``scoring.method: evidence``, 사회 routes otherwise)."""
        t = time.time()
        r = self.cfg.retrieval
        out: list[list] = [[] for _ in qs]
        per_choice: dict[int, list[list]] = {}
        if self.retriever is not None:
            social = [i for i, rt in enumerate(routes) if rt.label == SOCIAL]
            if self.answerer is not None:
                per_choice = self.per_choice(qs, list(range(len(qs))) if self.needs.answers_from_kb else social)
            if r.query == "per_choice":
                for i in social:
                    out[i] = interleave_choices(per_choice[i])
            elif not self.needs.answers_from_kb:
                for i, docs in zip(social, self._batch([retrieval_query(qs[i], r.query) for i in social])):
                    out[i] = docs
        self.timing.retrieve += time.time() - t
        return out, per_choice

    def gate(self, docs: list, evidence: EvidenceResult | None = None) -> list:
        r = self.cfg.retrieval
        if r.gate == "evidence" and evidence is not None and evidence.margin < r.evidence_margin:
            return []
        return [d for d in docs if r.min_score is None or d.score >= r.min_score]

    def prompts(self, qs: Sequence[Question], contexts: Sequence[list]) -> list:
        t = time.time()
        res = []
        for q, ctx in zip(qs, contexts):
            hint = self.hint(q)
            ctx_dicts = [{"title": d.title, "text": d.text, "choice": d.metadata.get("choice")} for d in ctx]
            orders = cyclic_orders(q.n_choices, self.cfg.scoring.permutations)
            res.append([(order, self.builder.build(q.with_choices(order), _reorder(ctx_dicts, order), hint))
                        for order in orders])
        self.timing.prompt += time.time() - t
        return res

    def hint(self, q: Question) -> str | None:
        """The hint shown with ``q`` (``prompt.hints``): the hints file's, else the question's own."""
        return (self.hints.get(q.id) or q.hint) if self.cfg.prompt.hints else None

    def score(self, qs: Sequence[Question], built: list, scorer: Scorer | None = None) -> list[np.ndarray]:
        """Probabilities per question, averaged over its prompts' choice orders; ``scorer``: another scorer than
        the run's (fine-tuning scores its dev prompts with the model being trained)."""
        t = time.time()
        flat_prompts, flat_n, owners = [], [], []
        for i, (q, variants) in enumerate(zip(qs, built)):
            for order, pr in variants:
                flat_prompts.append(pr.text)
                flat_n.append(q.n_choices)
                owners.append((i, order))
        try:
            probs = (scorer or self.scorer).score(flat_prompts, flat_n)
        except LLMRequestError as e:  # a served model's request failed: say for which question
            raise e.naming(flat_prompts, [qs[i].id for i, _ in owners]) from e
        out = [np.zeros(q.n_choices) for q in qs]
        for (i, order), p in zip(owners, probs):
            out[i] += unpermute(p, order)
        out = [p / p.sum() for p in out]
        self.timing.score += time.time() - t
        return out

    def evidence(self, qs: Sequence[Question], per_choice: dict[int, list[list]]) -> list[EvidenceResult | None]:
        out: list[EvidenceResult | None] = [None] * len(qs)
        if self.answerer is not None and per_choice:
            idx = sorted(per_choice)
            for i, res in zip(idx, self.answerer.score([qs[i] for i in idx], [per_choice[i] for i in idx])):
                out[i] = res
        return out

    # ------------------------------------------------------------------ all together
    def prompted(self, qs: Sequence[Question]) -> list:
        """Route, retrieve, gate and build the prompts of ``qs`` — what ``run`` scores, per question its
        (choice order, prompt) variants; fine-tuning trains on these."""
        if self.builder is None:
            raise ValueError("this run builds no prompts (scoring.method answers without an LLM)")
        return self._prepare(qs).built

    def _prepare(self, qs: Sequence[Question]) -> Prepared:
        routes = self.route(qs)
        retrieved, per_choice = self.retrieve(qs, routes)
        ev = self.evidence(qs, per_choice)
        if self.needs.answers_from_kb:
            return Prepared(routes, retrieved, per_choice, ev)
        kept = [self.gate(d, e) for d, e in zip(retrieved, ev)]
        return Prepared(routes, retrieved, per_choice, ev, kept, self.prompts(qs, kept))

    def run(self, qs: Sequence[Question]) -> list[Prediction]:
        prep = self._prepare(qs)
        if self.needs.answers_from_kb:
            probs = self.scorer.from_evidence(prep.evidence)
            return [self._record(q, rt, interleave_choices(prep.per_choice[i]), [], None, p)
                    for i, (q, rt, p) in enumerate(zip(qs, prep.routes, probs))]
        routes, retrieved, _, ev, kept, built = prep
        probs = self.score(qs, built)
        w = self.cfg.scoring.evidence_weight
        if w > 0:  # log p = log p_llm + w · log p_evidence (renormalised), on questions with evidence
            probs = [p if e is None else _fuse(p, e.probs, w) for p, e in zip(probs, ev)]
        return [self._record(q, rt, ret, kp, b[0][1], p)
                for q, rt, ret, kp, b, p in zip(qs, routes, retrieved, kept, built, probs)]

    @staticmethod
    def _record(q: Question, rt: Route, ret: list, kept: list, pr, p: np.ndarray) -> Prediction:
        pred = int(np.argmax(p)) + 1
        return Prediction(
            id=q.id, source=q.source, subject=q.subject, domain=q.domain,
            route=rt.label, route_confidence=round(rt.confidence, 6), p_social=round(rt.p_social, 6),
            route_uncertain=bool(rt.uncertain), retrieved=[d.to_dict() for d in ret],
            context_used=pr.context_used if pr else 0, context_gated_out=len(ret) - len(kept) if pr else 0,
            context_dropped_for_budget=pr.context_dropped if pr else 0,
            passage_trimmed_chars=pr.passage_trimmed_chars if pr else 0, over_budget=pr.over_budget if pr else False,
            prompt_tokens=pr.n_tokens if pr else 0, n_choices=q.n_choices,
            probs=[round(float(x), 6) for x in p], prediction=pred, gold=q.answer,
            correct=None if q.answer is None else pred == q.answer)


def interleave_choices(per_choice: list[list]) -> list:
    """Per-choice docs as one list, round-robin over the choices (each choice's best first, then each one's
    second, …; a chunk found for two choices kept once, under the first), each tagged with its choice
    (``metadata["choice"]``, 1-based): dropping from the end for the token budget takes from every choice."""
    seen, out = set(), []
    for rank in range(max((len(d) for d in per_choice), default=0)):
        for c, docs in enumerate(per_choice):
            if rank < len(docs) and docs[rank].chunk_id not in seen:
                seen.add(docs[rank].chunk_id)
                d = docs[rank]
                out.append(replace(d, metadata={**d.metadata, "choice": c + 1}))
    return out


def _reorder(ctx: list[dict], order: list[int]) -> list[dict]:
    """Choice tags follow the choices when they are shown permuted (``order[j]`` is shown at position j)."""
    if not any(c.get("choice") for c in ctx):
        return ctx
    shown = {orig + 1: j + 1 for j, orig in enumerate(order)}
    return [c | {"choice": shown.get(c["choice"], c["choice"])} if c.get("choice") else c for c in ctx]


def _fuse(p_llm: np.ndarray, p_ev: np.ndarray, w: float) -> np.ndarray:
    lp = np.log(np.clip(p_llm, 1e-12, 1)) + w * np.log(np.clip(p_ev, 1e-12, 1))
    e = np.exp(lp - lp.max())
    return e / e.sum()
