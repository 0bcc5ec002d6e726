"""Evidence for each choice: option-aware retrieval and a retrieval-only answerer (no LLM).

For every choice of a question the retriever is asked once — question, passage head, <보기> and that choice
(``choice_queries``); all choices of all questions go in one ``batch_retrieve``. A choice's *support* is how
much of what it says on its own is found in one retrieved chunk:

* its own terms: the choice's index terms (the knowledge base's BM25 analysis) minus the terms of the
  question, passage head and <보기>, and minus terms every choice shares — so a choice that repeats the
  question's words gets no credit for them;
* support = the largest share of those terms (weighted by the KB's idf when ``idf`` is on) that one
  retrieved chunk contains — a share, so a long choice is not favoured the way a raw BM25 score favours it;
* the ranking signal (``signal``): ``coverage`` (the support share), ``retrieval`` (the best chunk's
  retrieval score, standardised within the question — BM25 and dense both count when the retriever is
  hybrid) or ``both`` (the sum of the two standardised; the default, chosen on the evidence benchmark's
  tuning sample);
* polarity: a negated stem (옳지 않은 것, 틀린 것, 아닌 것, …) asks for the choice with the *least* support.

Probabilities are a softmax over ``±signal / temperature``; ``margin`` (top probability minus the second)
says how well the evidence separates the choices.

    ans = EvidenceAnswerer(retriever, top_k=5)
    docs = ans.retrieve(questions)            # [question][choice] -> list[RetrievedDoc]
    results = ans.score(questions, docs)      # EvidenceResult per question
"""
from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .data.question import Question

#: stems that ask for the wrong statement
NEGATED = re.compile(r"옳지\s*않은|틀린|아닌\s*것|않은\s*것|적절하지\s*않|거리가\s*먼|잘못된|해당하지\s*않|일치하지\s*않|없는\s*것")


class LeakageError(ValueError):
    """Questions being evaluated are in the knowledge base's exam bank."""


def refuse_leakage(kb, questions: Sequence[Question]) -> None:
    """Raise ``LeakageError`` when any question (by id or normalised text) is an ``exam_bank`` document of
    ``kb``: the bank would hand the model the answer."""
    from knowledge_base.sources import normalise_question

    if "exam_bank" not in {s.get("name") for s in kb.manifest.get("sources", [])}:
        return  # no exam-bank source: nothing to leak (and no scan of a large store's records)
    bank = list(kb.chunks.of_source("exam_bank"))
    if not bank:
        return
    ids = {c.metadata.get("question_id") for c in bank}
    norms = {c.metadata.get("question_norm") for c in bank}
    hits = [q.id for q in questions if q.id in ids or normalise_question(q.question) in norms]
    if hits:
        raise LeakageError(f"{len(hits)} of the questions being answered are in the exam bank of {kb.dir} "
                           f"(e.g. {', '.join(hits[:5])}): rebuild the KB with the exam_bank source's "
                           f"options.exclude naming these question files, or evaluate other questions")


def is_negated(q: Question) -> bool:
    return bool(NEGATED.search(q.question))


def choice_queries(q: Question, passage_chars: int = 300, plus_chars: int = 300) -> list[str]:
    """One retrieval query per choice: question + passage head + <보기> head + the choice."""
    head = " ".join(p.strip() for p in (q.question, q.paragraph[:passage_chars], (q.question_plus or "")[:plus_chars])
                    if p and p.strip())
    return [f"{head} {c.strip()}" for c in q.choices]


@dataclass
class EvidenceResult:
    probs: np.ndarray  # over the choices, original order
    support: list[float]  # per choice, in [0, 1]
    negated: bool
    best: list[int | None]  # per choice: index of its best supporting chunk in its doc list, None if none
    own_terms: list[list[str]] = field(default_factory=list)

    @property
    def margin(self) -> float:
        p = np.sort(self.probs)[::-1]
        return float(p[0] - p[1]) if len(p) > 1 else 1.0

    @property
    def confidence(self) -> float:
        return float(self.probs.max())


class EvidenceAnswerer:
    def __init__(self, retriever, top_k: int = 5, temperature: float = 0.1, passage_chars: int = 300,
                 idf: bool = False, signal: str = "both"):
        """Defaults (``idf`` off, ``signal`` both, passage head 300 characters) as chosen on the evidence
        benchmark's tuning sample (``benchmarks/evidence_bench.py``)."""
        if signal not in SIGNALS:
            raise ValueError(f"unknown evidence signal {signal!r}; choose one of {', '.join(SIGNALS)}")
        self.retriever, self.top_k, self.temperature = retriever, top_k, temperature
        self.passage_chars, self.idf, self.signal = passage_chars, idf, signal
        self.tokenizer = retriever.kb.tokenizer  # the BM25 index's own analysis
        self._doc_terms: dict[str, frozenset[str]] = {}

    # ------------------------------------------------------------------ retrieval
    def retrieve(self, questions: Sequence[Question]) -> list[list[list]]:
        """[question][choice] -> retrieved chunks, all choices of all questions in one batch."""
        queries = [qy for q in questions for qy in choice_queries(q, self.passage_chars)]
        flat = self.retriever.batch_retrieve(queries, self.top_k) if queries else []
        out, i = [], 0
        for q in questions:
            out.append(flat[i: i + q.n_choices])
            i += q.n_choices
        return out

    # ------------------------------------------------------------------ scoring
    def _terms_of_docs(self, docs) -> None:
        todo = {d.chunk_id: d.text for d in docs if d.chunk_id not in self._doc_terms}
        if todo:
            for cid, toks in zip(todo, self.tokenizer.tokenize_batch(list(todo.values()))):
                self._doc_terms[cid] = frozenset(toks)

    def _idf(self, term: str) -> float:
        bm = getattr(self.retriever.kb, "bm25", None)
        if not self.idf or bm is None:
            return 1.0
        tid = bm.vocab_dict.get(term)
        n = len(self.retriever.kb)
        df = _doc_freq(bm, tid) if tid is not None else 0
        return math.log(1 + (n - df + 0.5) / (df + 0.5))

    def score(self, questions: Sequence[Question], docs: list[list[list]]) -> list[EvidenceResult]:
        all_docs = [d for per_q in docs for per_c in per_q for d in per_c]
        self._terms_of_docs(all_docs)
        contexts = self.tokenizer.tokenize_batch(
            [" ".join(filter(None, (q.question, q.paragraph[:self.passage_chars], q.question_plus or "")))
             for q in questions])
        choice_terms = self.tokenizer.tokenize_batch([c for q in questions for c in q.choices])
        out, i = [], 0
        for q, ctx, per_q in zip(questions, contexts, docs):
            cts = [set(t) for t in choice_terms[i: i + q.n_choices]]
            i += q.n_choices
            shared = set.intersection(*cts) if len(cts) > 1 else set()
            ctx_set = set(ctx)
            support, best, own_all, top = [], [], [], []
            for terms, cdocs in zip(cts, per_q):
                top.append(max((d.score for d in cdocs), default=0.0))
                own = (terms - ctx_set - shared) or terms
                weights = {t: self._idf(t) for t in own}
                total = sum(weights.values()) or 1.0
                s, b = 0.0, None
                for j, d in enumerate(cdocs):
                    dt = self._doc_terms[d.chunk_id]
                    cov = sum(w for t, w in weights.items() if t in dt) / total
                    if cov > s:
                        s, b = cov, j
                support.append(s)
                best.append(b)
                own_all.append(sorted(own))
            neg = is_negated(q)
            logits = _signal(self.signal, np.array(support), np.array(top)) / self.temperature * (-1.0 if neg else 1.0)
            e = np.exp(logits - logits.max())
            out.append(EvidenceResult(e / e.sum(), support, neg, best, own_all))
        return out


#: what ranks the choices: ``coverage`` (support share), ``retrieval`` (the best chunk's retrieval score,
#: standardised within the question), ``both`` (their standardised sum)
SIGNALS = ("coverage", "retrieval", "both")


def _z(x: np.ndarray) -> np.ndarray:
    sd = x.std()
    return (x - x.mean()) / sd if sd > 0 else np.zeros_like(x)


def _signal(name: str, support: np.ndarray, top: np.ndarray) -> np.ndarray:
    if name == "coverage":
        return support
    if name == "retrieval":
        return 0.1 * _z(top)
    return 0.1 * (_z(support) + _z(top))


def _doc_freq(bm, tid: int) -> int:
    """Documents containing term ``tid`` in a bm25s index (its CSC score matrix: one column per term)."""
    ptr = bm.scores["indptr"]
    return int(ptr[tid + 1] - ptr[tid])
