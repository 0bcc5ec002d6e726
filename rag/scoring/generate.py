"""``generate`` scoring: greedy generation of a few tokens (``LLM.generate``), the first label parsed (digits
or ①..⑩) and one-hot probabilities; unparsable answers fall back to logits scoring."""
from __future__ import annotations

import numpy as np

from .base import Scorer, parse_label
from .logits import LogitsScorer


class GenerateScorer(Scorer):
    name = "generate"

    def __init__(self, llm, cfg=None, batch_size=None):
        super().__init__(llm, cfg, batch_size)
        self.fallback = LogitsScorer(llm, cfg, batch_size)
        self.last_outputs: list[str] = []
        self.last_fallbacks: list[int] = []
        self.last_new_tokens: list[int] = []  # tokens generated per prompt (EOS included, padding not)

    def score(self, prompts, n_choices):
        gens = self.llm.generate(list(prompts), self.cfg.max_new_tokens, self.batch_size)
        self.last_outputs = [g.text for g in gens]
        self.last_new_tokens = [g.n_tokens for g in gens]
        out: list[np.ndarray | None] = [None] * len(prompts)
        missing = []
        for i, (t, n) in enumerate(zip(self.last_outputs, n_choices)):
            lab = parse_label(t, n)
            if lab is None:
                missing.append(i)
            else:
                out[i] = np.eye(n)[lab - 1]
        self.last_fallbacks = missing
        if missing:
            for i, p in zip(missing, self.fallback.score([prompts[i] for i in missing],
                                                         [n_choices[i] for i in missing])):
                out[i] = p
        return out  # type: ignore[return-value]
