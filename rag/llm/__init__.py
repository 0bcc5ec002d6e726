"""LLM backends chosen by name (``llm.backend``), each implementing the ``LLM`` interface (label
log-probabilities and generation): ``hf`` (transformers, optional bitsandbytes quantization and a PEFT
adapter) and ``vllm`` (optional, GPUs). One loader serves predict, hints and finetune."""
from .base import LLM, LLM_BACKENDS, Generation, load_llm

__all__ = ["LLM", "LLM_BACKENDS", "Generation", "load_llm"]
