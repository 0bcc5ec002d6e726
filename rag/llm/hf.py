"""transformers backend: Hub id, local dir or GGUF file; dtype; bitsandbytes 4/8-bit; device_map; LoRA adapter."""
from __future__ import annotations

import logging

from common.config import LLMConfig

from .base import LLM, LLM_BACKENDS

log = logging.getLogger(__name__)


def torch_dtype(name: str):
    import torch

    if name == "auto":
        if torch.cuda.is_available():
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    return getattr(torch, name)


def quantization_config(cfg: LLMConfig):
    """bitsandbytes NF4 with double quantization (4bit) or LLM.int8 (8bit); None for ``none``."""
    if cfg.quantization == "none":
        return None
    try:
        import bitsandbytes  # noqa: F401
        from transformers import BitsAndBytesConfig
    except ImportError as e:
        raise ImportError(f"llm.quantization={cfg.quantization} needs bitsandbytes: pip install -e '.[quant]'") from e

    if cfg.quantization == "4bit":
        compute = torch_dtype(cfg.dtype)
        return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                                  bnb_4bit_compute_dtype=compute)
    return BitsAndBytesConfig(load_in_8bit=True)


def load_tokenizer(cfg: LLMConfig):
    from transformers import AutoTokenizer

    kw = {"trust_remote_code": cfg.trust_remote_code}
    if cfg.gguf_file:
        kw["gguf_file"] = cfg.gguf_file
    tok = AutoTokenizer.from_pretrained(cfg.model, **kw)
    tok.padding_side = "left"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


@LLM_BACKENDS.register("hf")
def load_hf(cfg: LLMConfig) -> LLM:
    import torch
    from transformers import AutoModelForCausalLM

    tok = load_tokenizer(cfg)
    qconf = quantization_config(cfg)
    kw = {"trust_remote_code": cfg.trust_remote_code, "dtype": torch_dtype(cfg.dtype)}
    if cfg.gguf_file:
        kw["gguf_file"] = cfg.gguf_file
    if qconf is not None:
        kw["quantization_config"] = qconf
    if cfg.device_map:
        kw["device_map"] = cfg.device_map
    model = AutoModelForCausalLM.from_pretrained(cfg.model, **kw)
    if not cfg.device_map and qconf is None and torch.cuda.is_available():
        model = model.to("cuda")
    if cfg.adapter:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, cfg.adapter)
    model.eval()
    if model.generation_config is not None and model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tok.pad_token_id
    return LLM("hf", model, tok, cfg, {"dtype": str(next(model.parameters()).dtype),
                                       "device": str(next(model.parameters()).device)})
