"""vLLM backend (optional; GPUs, tensor parallel). Imported only when ``llm.backend: vllm`` is chosen.

``label_logprobs``: one-token labels from the top-20 log-probabilities of the first generated token
(``SamplingParams(max_tokens=1, logprobs=20)``); a label of several tokens, or one outside the top 20, is
scored exactly from the prompt log-probabilities of prompt + label (``prompt_logprobs``). ``generate``:
greedy ``SamplingParams(max_tokens=…, temperature=0)``. A LoRA adapter (``llm.adapter``) is applied to every
request."""
from __future__ import annotations

from typing import Any

import numpy as np

from common.config import LLMConfig

from .base import LLM, Generation, check_local_refs

TOP_LOGPROBS = 20


class VLLMCausalLM(LLM):
    backend = "vllm"

    def __init__(self, engine: Any, config: LLMConfig, info: dict[str, Any] | None = None):
        super().__init__(engine.get_tokenizer(), config, info)
        self.engine = engine
        self.lora = None
        if config.adapter:
            from vllm.lora.request import LoRARequest

            self.lora = LoRARequest("adapter", 1, config.adapter)

    def _run(self, prompts: list, params) -> list:
        kw = {"use_tqdm": False}
        if self.lora is not None:
            kw["lora_request"] = self.lora
        return self.engine.generate(prompts, params, **kw)

    def label_logprobs(self, prompts, labels, batch_size=None):
        from vllm import SamplingParams

        ids = [[self.label_token_ids(lab) for lab in labs] for labs in labels]
        outs = self._run(list(prompts), SamplingParams(max_tokens=1, logprobs=TOP_LOGPROBS, temperature=0.0))
        res: list[np.ndarray] = []
        exact: list[tuple[int, int]] = []  # (prompt, label) scored from prompt log-probabilities
        for i, o in enumerate(outs):
            top = o.outputs[0].logprobs[0]
            row = np.full(len(ids[i]), np.nan)
            for j, t in enumerate(ids[i]):
                if len(t) == 1 and t[0] in top:
                    row[j] = top[t[0]].logprob
                else:
                    exact.append((i, j))
            res.append(row)
        if exact:
            enc = self.encode([prompts[i] for i, _ in exact])
            seqs = [{"prompt_token_ids": e + ids[i][j]} for e, (i, j) in zip(enc, exact)]
            outs = self._run(seqs, SamplingParams(max_tokens=1, prompt_logprobs=1, temperature=0.0))
            for o, e, (i, j) in zip(outs, enc, exact):
                lab = ids[i][j]
                res[i][j] = float(sum(o.prompt_logprobs[len(e) + t][tok].logprob for t, tok in enumerate(lab)))
        return res

    def generate(self, prompts, max_new_tokens, batch_size=None):
        from vllm import SamplingParams

        outs = self._run(list(prompts), SamplingParams(max_tokens=max_new_tokens, temperature=0.0))
        return [Generation(o.outputs[0].text, len(o.outputs[0].token_ids)) for o in outs]


def load_vllm(cfg: LLMConfig) -> VLLMCausalLM:
    check_local_refs(cfg)
    try:
        from vllm import LLM as VLLMEngine
    except ImportError as e:
        raise ImportError("llm.backend=vllm needs vLLM on a CUDA machine: pip install -e '.[vllm]'") from e
    kw = {"model": cfg.model, "tensor_parallel_size": cfg.tensor_parallel_size,
          "trust_remote_code": cfg.trust_remote_code, "enable_lora": bool(cfg.adapter)}
    if cfg.dtype != "auto":
        kw["dtype"] = cfg.dtype
    if cfg.quantization == "4bit":
        kw["quantization"] = "bitsandbytes"
    return VLLMCausalLM(VLLMEngine(**kw), cfg, {"tensor_parallel_size": cfg.tensor_parallel_size})
