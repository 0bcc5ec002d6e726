"""``generate`` scoring: greedy generation of a few tokens, the first label parsed (digits or ①..⑩) and
one-hot probabilities; unparsable answers fall back to logits scoring."""
from __future__ import annotations

import numpy as np

from .base import SCORERS, Scorer, parse_label
from .logits import LogitsScorer


@SCORERS.register("generate")
class GenerateScorer(Scorer):
    name = "generate"

    def __init__(self, llm, cfg=None, batch_size=None):
        super().__init__(llm, cfg, batch_size)
        self.fallback = LogitsScorer(llm, cfg, batch_size)
        self.last_outputs: list[str] = []
        self.last_fallbacks: list[int] = []
        self.last_new_tokens: list[int] = []  # tokens generated per prompt (EOS included, padding not)

    def generate(self, prompts: list[str]) -> list[str]:
        import torch

        tok, model = self.llm.tokenizer, self.llm.model
        order = sorted(range(len(prompts)), key=lambda i: -len(prompts[i]))
        texts: list[str] = [""] * len(prompts)
        counts = [0] * len(prompts)
        device = next(model.parameters()).device
        for b in range(0, len(order), self.batch_size):
            idx = order[b:b + self.batch_size]
            enc = tok([prompts[i] for i in idx], return_tensors="pt", padding=True, add_special_tokens=False)
            with torch.inference_mode():
                gen = model.generate(**{k: v.to(device) for k, v in enc.items()},
                                     max_new_tokens=self.cfg.max_new_tokens, do_sample=False,
                                     pad_token_id=tok.pad_token_id)
            new = gen[:, enc["input_ids"].shape[1]:]
            for row, i in enumerate(idx):
                texts[i] = tok.decode(new[row], skip_special_tokens=True)
                counts[i] = int((new[row] != tok.pad_token_id).sum())
        self.last_new_tokens = counts
        return texts

    def score(self, prompts, n_choices):
        texts = self.generate(list(prompts))
        self.last_outputs = texts
        out: list[np.ndarray | None] = [None] * len(prompts)
        missing = []
        for i, (t, n) in enumerate(zip(texts, n_choices)):
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
