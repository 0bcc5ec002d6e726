"""Scorers: prompts in, probabilities over each question's choices out; they use only the ``LLM`` interface
(``label_logprobs``, ``generate``), so every backend serves every scorer."""
from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from common.config import ScoringConfig
from common.registry import Registry

SCORERS: Registry[type] = Registry("scorer", field="scoring.method", lazy={
    "logits": "rag.scoring.logits:LogitsScorer", "generate": "rag.scoring.generate:GenerateScorer",
    "evidence": "rag.scoring.evidence:EvidenceScorer"})
_CIRCLED = "①②③④⑤⑥⑦⑧⑨⑩"
_LABEL_RE = re.compile(r"(10|[1-9])|([①-⑩])")


class Scorer:
    name = "base"
    #: whether it scores prompts with an LLM (the retrieval-only answerer does not)
    needs_llm = True

    def __init__(self, llm, cfg: ScoringConfig | None = None, batch_size: int | None = None):
        self.llm = llm
        self.cfg = cfg or ScoringConfig()
        self.batch_size = batch_size or llm.config.batch_size

    def score(self, prompts: Sequence[str], n_choices: Sequence[int]) -> list[np.ndarray]:
        raise NotImplementedError


def parse_label(text: str, n: int) -> int | None:
    """The first choice label (digit or ①..⑩) in generated text, 1-based, or None."""
    for m in _LABEL_RE.finditer(text):
        v = int(m.group(1)) if m.group(1) else _CIRCLED.index(m.group(2)) + 1
        if 1 <= v <= n:
            return v
    return None


def make_scorer(llm, cfg: ScoringConfig) -> Scorer:
    return SCORERS.get(cfg.method)(llm, cfg)
