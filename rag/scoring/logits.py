"""``logits`` scoring: probabilities over the choice labels ("1" … "n") from the LLM's label
log-probabilities (``LLM.label_logprobs``: one forward pass when every label is one token; a multi-token
label such as "10" scored as a sequence)."""
from __future__ import annotations

import numpy as np

from .base import Scorer


def choice_labels(n: int) -> list[str]:
    return [str(i) for i in range(1, n + 1)]


class LogitsScorer(Scorer):
    name = "logits"

    def __init__(self, llm, cfg=None, batch_size=None):
        super().__init__(llm, cfg, batch_size)
        self.cache: dict[tuple[str, int], np.ndarray] | None = None  # prompt → probabilities, when enabled

    def score(self, prompts, n_choices) -> list[np.ndarray]:
        """Probabilities over each prompt's ``n`` choice labels. With ``self.cache`` (a dict) set, prompts
        scored before are not run again (ablation variants share most prompts)."""
        if self.cache is not None:
            todo = list(dict.fromkeys((p, n) for p, n in zip(prompts, n_choices) if (p, n) not in self.cache))
            if todo:
                fresh = self._score([p for p, _ in todo], [n for _, n in todo])
                self.cache.update(zip(todo, fresh))
            return [self.cache[(p, n)] for p, n in zip(prompts, n_choices)]
        return self._score(prompts, n_choices)

    def _score(self, prompts, n_choices) -> list[np.ndarray]:
        lps = self.llm.label_logprobs(list(prompts), [choice_labels(n) for n in n_choices], self.batch_size)
        return [_softmax(np.asarray(lp, dtype=np.float64)) for lp in lps]


def _softmax(x: np.ndarray) -> np.ndarray:
    x = x - x.max()
    e = np.exp(x)
    return e / e.sum()
