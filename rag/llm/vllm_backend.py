"""vLLM backend (optional; GPUs, tensor parallel). Imported only when ``llm.backend: vllm`` is chosen.

The engine scores choices from the top log-probabilities of the first generated token
(``SamplingParams(max_tokens=1, logprobs=20)``); see ``rag.scoring``."""
from __future__ import annotations

from common.config import LLMConfig

from .base import LLM, LLM_BACKENDS


@LLM_BACKENDS.register("vllm")
def load_vllm(cfg: LLMConfig) -> LLM:
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
    engine = VLLMEngine(**kw)
    return LLM("vllm", engine, engine.get_tokenizer(), cfg, {"tensor_parallel_size": cfg.tensor_parallel_size})
