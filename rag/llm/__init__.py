"""LLM backends chosen by name (``llm.backend``): ``hf`` (transformers, optional bitsandbytes quantization and
a PEFT adapter) and ``vllm`` (optional, GPUs). One loader serves predict, hints and finetune."""
from .base import LLM, LLM_BACKENDS, load_llm

__all__ = ["LLM", "LLM_BACKENDS", "load_llm"]
