"""``logits`` scoring: probabilities over the choice labels' tokens at the answer position.

Prompts are batched with left padding (explicit position ids, so a batch equals one-by-one scoring) in
length-sorted batches. When every label is one token, one forward pass per batch suffices; otherwise each
label sequence's log-probability is scored after the prompt."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .base import SCORERS, Scorer


def _batches(order: list[int], size: int):
    for i in range(0, len(order), size):
        yield order[i:i + size]


@SCORERS.register("logits")
class LogitsScorer(Scorer):
    name = "logits"

    def __init__(self, llm, cfg=None, batch_size=None):
        super().__init__(llm, cfg, batch_size)
        self._label_ids: dict[int, list[list[int]]] = {}
        self.cache: dict[tuple[str, int], np.ndarray] | None = None  # prompt → probabilities, when enabled

    def label_ids(self, n: int) -> list[list[int]]:
        if n not in self._label_ids:
            self._label_ids[n] = [self.llm.tokenizer.encode(str(i), add_special_tokens=False)
                                  for i in range(1, n + 1)]
        return self._label_ids[n]

    def _forward(self, seqs: list[list[int]], keep: int = 1):
        """Left-padded forward; log-softmax logits of the last ``keep`` positions [batch, keep, vocab] (the LM
        head runs on those positions only, which saves time and memory on long prompts)."""
        import torch

        model = self.llm.model
        pad = self.llm.tokenizer.pad_token_id
        L = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), L), pad, dtype=torch.long)
        mask = torch.zeros((len(seqs), L), dtype=torch.long)
        for i, s in enumerate(seqs):
            ids[i, L - len(s):] = torch.tensor(s)
            mask[i, L - len(s):] = 1
        pos = (mask.cumsum(-1) - 1).clamp(min=0)
        device = next(model.parameters()).device
        with torch.inference_mode():
            out = model(input_ids=ids.to(device), attention_mask=mask.to(device), position_ids=pos.to(device),
                        logits_to_keep=keep)
        return torch.log_softmax(out.logits[:, -keep:, :].float(), dim=-1)

    def encode(self, prompts: Sequence[str]) -> list[list[int]]:
        return [self.llm.tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]

    def score(self, prompts, n_choices, encoded: list[list[int]] | None = None) -> list[np.ndarray]:
        """Probabilities over each prompt's ``n`` choice labels. With ``self.cache`` (a dict) set, prompts
        scored before are not run again (ablation variants share most prompts)."""
        if self.cache is not None and encoded is None:
            todo = list(dict.fromkeys((p, n) for p, n in zip(prompts, n_choices) if (p, n) not in self.cache))
            if todo:
                fresh = self._score([p for p, _ in todo], [n for _, n in todo])
                self.cache.update(zip(todo, fresh))
            return [self.cache[(p, n)] for p, n in zip(prompts, n_choices)]
        return self._score(prompts, n_choices, encoded)

    def _score(self, prompts, n_choices, encoded: list[list[int]] | None = None) -> list[np.ndarray]:
        enc = encoded if encoded is not None else self.encode(prompts)
        out: list[np.ndarray | None] = [None] * len(prompts)
        single = [i for i, n in enumerate(n_choices) if all(len(t) == 1 for t in self.label_ids(n))]
        multi = [i for i in range(len(prompts)) if i not in set(single)]
        order = sorted(single, key=lambda i: -len(enc[i]))
        for batch in _batches(order, self.batch_size):
            logp = self._forward([enc[i] for i in batch], keep=1)[:, -1, :]
            for row, i in enumerate(batch):
                ids = [t[0] for t in self.label_ids(n_choices[i])]
                out[i] = _softmax(logp[row, ids].cpu().numpy().astype(np.float64))
        if multi:
            self._score_sequences(multi, enc, n_choices, out)
        return out  # type: ignore[return-value]

    def _score_sequences(self, items: list[int], enc, n_choices, out) -> None:
        jobs = [(i, j) for i in items for j in range(n_choices[i])]
        seqs = {(i, j): enc[i] + self.label_ids(n_choices[i])[j] for i, j in jobs}
        jobs.sort(key=lambda ij: -len(seqs[ij]))
        lp: dict[tuple[int, int], float] = {}
        for batch in _batches(list(range(len(jobs))), self.batch_size):
            keys = [jobs[b] for b in batch]
            keep = max(len(self.label_ids(n_choices[i])[j]) for i, j in keys) + 1
            logp = self._forward([seqs[k] for k in keys], keep=keep)
            for row, (i, j) in enumerate(keys):
                lab = self.label_ids(n_choices[i])[j]
                m = len(lab)
                # token t of the label is predicted at position -(m+1)+t
                lp[(i, j)] = float(sum(logp[row, -(m + 1) + t, tok].item() for t, tok in enumerate(lab)))
        for i in items:
            out[i] = _softmax(np.array([lp[(i, j)] for j in range(n_choices[i])]))


@SCORERS.register("vllm-logits")
class VLLMLogitsScorer(Scorer):  # pragma: no cover - needs vLLM and a GPU
    """First-token top-20 log-probabilities from vLLM; labels missing from the top-20 get -inf."""

    name = "logits"

    def score(self, prompts, n_choices):
        from vllm import SamplingParams

        params = SamplingParams(max_tokens=1, logprobs=20, temperature=0.0)
        outs = self.llm.model.generate(list(prompts), params, use_tqdm=False)
        tok = self.llm.tokenizer
        res = []
        for o, n in zip(outs, n_choices):
            top = o.outputs[0].logprobs[0]
            ids = [tok.encode(str(i), add_special_tokens=False)[0] for i in range(1, n + 1)]
            res.append(_softmax(np.array([top[i].logprob if i in top else -1e9 for i in ids], dtype=np.float64)))
        return res


def _softmax(x: np.ndarray) -> np.ndarray:
    x = x - x.max()
    e = np.exp(x)
    return e / e.sum()
