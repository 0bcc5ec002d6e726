"""``evidence`` scoring: the retrieval-only answerer (``rag.evidence``) — probabilities over the choices from
per-choice evidence in the knowledge base, no LLM. The pipeline retrieves per choice and hands this scorer
the evidence instead of prompts; it is the baseline every LLM run is compared with."""
from __future__ import annotations

import numpy as np

from .base import Scorer


class EvidenceScorer(Scorer):
    name = "evidence"
    needs_llm = False

    def __init__(self, llm=None, cfg=None, batch_size=None):
        self.llm, self.batch_size = llm, batch_size or 1
        from common.config import ScoringConfig

        self.cfg = cfg or ScoringConfig(method="evidence")

    def score(self, prompts, n_choices):
        raise TypeError("the evidence scorer scores retrieved evidence, not prompts: use from_evidence "
                        "(rag.pipeline does, with scoring.method=evidence)")

    def from_evidence(self, results) -> list[np.ndarray]:
        """``rag.evidence.EvidenceResult`` per question → probabilities over its choices."""
        return [np.asarray(r.probs, dtype=np.float64) for r in results]
