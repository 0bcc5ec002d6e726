"""The conditional pipeline: route → (social: build query → retrieve → gate by min_score) → prompt → score.

    pipe = Assembly().pipeline(cfg)                # rag.assembly builds and caches the parts
    records = pipe.run(questions)                  # one rag.record.Prediction per question
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from common.config import RunConfig

from .data.question import Question
from .prompts import PromptBuilder
from .record import Prediction
from .router.base import SOCIAL, Route, Router
from .scoring import Scorer, cyclic_orders, make_scorer, unpermute


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


class Pipeline:
    """The stages of one run over parts it is handed (``rag.assembly.Assembly`` builds and shares them)."""

    def __init__(self, cfg: RunConfig, llm, router: Router, retriever=None, hints: dict[str, str] | None = None,
                 scorer: Scorer | None = None, retrieval_cache: dict[str, list] | None = None):
        self.cfg, self.llm, self.router, self.retriever = cfg, llm, router, retriever
        self.builder = PromptBuilder(llm.tokenizer, cfg.prompt)
        self.scorer: Scorer = scorer or make_scorer(llm, cfg.scoring)
        self.hints = hints or {}
        self.timing = Timing()
        self.retrieval_cache: dict[str, list] = {} if retrieval_cache is None else retrieval_cache

    # ------------------------------------------------------------------ stages
    def route(self, qs: Sequence[Question]) -> list[Route]:
        t = time.time()
        routes = self.router.route(qs)
        self.timing.route += time.time() - t
        return routes

    def retrieve(self, qs: Sequence[Question], routes: Sequence[Route]) -> list[list]:
        """Retrieved docs per question (empty for 국어 routes or without a retriever); results are cached by the
        retriever's fingerprint (KB + retrieval settings), ``top_k`` and the query, so pipelines that share a
        cache reuse documents only when they would retrieve the same ones."""
        t = time.time()
        r = self.cfg.retrieval
        out: list[list] = [[] for _ in qs]
        if self.retriever is not None:
            todo = [i for i, rt in enumerate(routes) if rt.label == SOCIAL]
            queries = [retrieval_query(qs[i], r.query) for i in todo]
            fp = getattr(self.retriever, "fingerprint", "") or f"object-{id(self.retriever)}"
            key = lambda qy: f"{fp}|{r.top_k}|{qy}"
            missing = [qy for qy in dict.fromkeys(queries) if key(qy) not in self.retrieval_cache]
            if missing:
                for qy, docs in zip(missing, self.retriever.batch_retrieve(missing, r.top_k)):
                    self.retrieval_cache[key(qy)] = docs
            for i, qy in zip(todo, queries):
                out[i] = self.retrieval_cache[key(qy)]
        self.timing.retrieve += time.time() - t
        return out

    def gate(self, docs: list) -> list:
        ms = self.cfg.retrieval.min_score
        return [d for d in docs if ms is None or d.score >= ms]

    def prompts(self, qs: Sequence[Question], contexts: Sequence[list]) -> list:
        t = time.time()
        res = []
        for q, ctx in zip(qs, contexts):
            hint = (self.hints.get(q.id) or q.hint) if self.cfg.prompt.hints else None
            ctx_dicts = [{"title": d.title, "text": d.text} for d in ctx]
            orders = cyclic_orders(q.n_choices, self.cfg.scoring.permutations)
            res.append([(order, self.builder.build(q.with_choices(order), ctx_dicts, hint)) for order in orders])
        self.timing.prompt += time.time() - t
        return res

    def score(self, qs: Sequence[Question], built: list) -> list[np.ndarray]:
        t = time.time()
        flat_prompts, flat_n, owners = [], [], []
        for i, (q, variants) in enumerate(zip(qs, built)):
            for order, pr in variants:
                flat_prompts.append(pr.text)
                flat_n.append(q.n_choices)
                owners.append((i, order))
        probs = self.scorer.score(flat_prompts, flat_n)
        out = [np.zeros(q.n_choices) for q in qs]
        for (i, order), p in zip(owners, probs):
            out[i] += unpermute(p, order)
        out = [p / p.sum() for p in out]
        self.timing.score += time.time() - t
        return out

    # ------------------------------------------------------------------ all together
    def run(self, qs: Sequence[Question]) -> list[Prediction]:
        routes = self.route(qs)
        retrieved = self.retrieve(qs, routes)
        kept = [self.gate(d) for d in retrieved]
        built = self.prompts(qs, kept)
        probs = self.score(qs, built)
        records = []
        for q, rt, ret, kp, b, p in zip(qs, routes, retrieved, kept, built, probs):
            pred = int(np.argmax(p)) + 1
            pr = b[0][1]
            records.append(Prediction(
                id=q.id, source=q.source, subject=q.subject, domain=q.domain,
                route=rt.label, route_confidence=round(rt.confidence, 6), p_social=round(rt.p_social, 6),
                route_uncertain=bool(rt.uncertain), retrieved=[d.to_dict() for d in ret], context_used=pr.context_used,
                context_gated_out=len(ret) - len(kp), context_dropped_for_budget=pr.context_dropped,
                passage_trimmed_chars=pr.passage_trimmed_chars, over_budget=pr.over_budget,
                prompt_tokens=pr.n_tokens, n_choices=q.n_choices,
                probs=[round(float(x), 6) for x in p], prediction=pred, gold=q.answer,
                correct=None if q.answer is None else pred == q.answer))
        return records
