"""transformers backend: Hub id, local dir or GGUF file; dtype; bitsandbytes 4/8-bit or a pre-quantized (GPTQ, AWQ)
checkpoint with its own ``quantization_config``; device_map; LoRA adapter.

``HFCausalLM`` scores labels with left-padded, length-sorted batches and explicit position ids (a batch equals
one-by-one scoring); when every label is one token one forward pass per batch suffices, and the LM head runs
on the last position only."""
from __future__ import annotations

import importlib.util
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from common.config import LLMConfig

from .base import LLM, Generation, check_local_refs

log = logging.getLogger(__name__)


def torch_dtype(name: str):
    import torch

    if name == "auto":
        if torch.cuda.is_available():
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    return getattr(torch, name)


#: pre-quantized checkpoint formats (``quant_method`` in the checkpoint's config.json) → (extra, modules it needs)
PREQUANTIZED = {"gptq": ("gptq", ("optimum", "gptqmodel")), "awq": ("awq", ("gptqmodel", "accelerate"))}


def shipped_quantization(cfg: LLMConfig) -> dict | None:
    """The ``quantization_config`` a checkpoint ships with (GPTQ, AWQ, …), or None. A local directory's
    config.json is read directly; a Hub id through ``AutoConfig`` (the local cache when offline)."""
    if cfg.gguf_file:
        return None
    local = Path(cfg.model).expanduser()
    try:
        if local.is_dir():
            path = local / "config.json"
            conf = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
        else:
            from transformers import AutoConfig

            conf = AutoConfig.from_pretrained(cfg.model, trust_remote_code=cfg.trust_remote_code).to_dict()
    except (OSError, ValueError):
        return None  # loading the model reports what is wrong
    q = conf.get("quantization_config")
    return q if isinstance(q, dict) else None


def check_prequantized(cfg: LLMConfig, shipped: dict) -> None:
    """A pre-quantized checkpoint loads with its own config: refuse bitsandbytes on top, and name the extra
    the format needs when its libraries are missing."""
    method = str(shipped.get("quant_method", "?")).lower()
    if cfg.quantization in ("4bit", "8bit"):
        raise ValueError(f"llm.model {cfg.model!r} is already quantized ({method}, {shipped.get('bits', '?')}-bit): "
                         f"bitsandbytes cannot quantize it again; set llm.quantization=auto")
    if method in PREQUANTIZED:
        extra, modules = PREQUANTIZED[method]
        missing = [m for m in modules if importlib.util.find_spec(m) is None]
        if missing:
            raise ImportError(f"llm.model {cfg.model!r} is a {method.upper()} checkpoint; loading it needs the "
                              f"'{extra}' extra: pip install -e '.[{extra}]' (missing: {', '.join(missing)})")


def quantization_config(cfg: LLMConfig, shipped: dict | None = None):
    """bitsandbytes NF4 with double quantization (4bit) or LLM.int8 (8bit); None for ``none``/``auto`` and for a
    pre-quantized checkpoint (``shipped``: transformers then uses the checkpoint's own config)."""
    if shipped is not None:
        check_prequantized(cfg, shipped)
        return None
    if cfg.quantization in ("none", "auto"):
        return None
    try:
        import bitsandbytes  # noqa: F401
        from transformers import BitsAndBytesConfig
    except ImportError as e:
        raise ImportError(f"llm.quantization={cfg.quantization} needs bitsandbytes: pip install -e '.[quant]'") from e

    if cfg.quantization == "4bit":
        return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                                  bnb_4bit_compute_dtype=torch_dtype(cfg.dtype))
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


def _batches(order: list[int], size: int):
    for i in range(0, len(order), size):
        yield order[i:i + size]


class HFCausalLM(LLM):
    """A transformers causal LM (``model``: what fine-tuning trains; callers outside the backend use the
    ``LLM`` methods)."""

    backend = "hf"

    def __init__(self, model: Any, tokenizer: Any, config: LLMConfig, info: dict[str, Any] | None = None):
        super().__init__(tokenizer, config, info)
        self.model = model

    def with_model(self, model: Any) -> HFCausalLM:
        """The same tokenizer and config around another model (e.g. the one being fine-tuned)."""
        return HFCausalLM(model, self.tokenizer, self.config, self.info)

    @property
    def device(self):
        return next(self.model.parameters()).device

    def forward(self, seqs: list[list[int]], keep: int = 1):
        """Left-padded forward; log-softmax of the last ``keep`` positions' logits [batch, keep, vocab]."""
        import torch

        pad = self.tokenizer.pad_token_id
        L = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), L), pad, dtype=torch.long)
        mask = torch.zeros((len(seqs), L), dtype=torch.long)
        for i, s in enumerate(seqs):
            ids[i, L - len(s):] = torch.tensor(s)
            mask[i, L - len(s):] = 1
        pos = (mask.cumsum(-1) - 1).clamp(min=0)
        device = self.device
        with torch.inference_mode():
            out = self.model(input_ids=ids.to(device), attention_mask=mask.to(device), position_ids=pos.to(device),
                             logits_to_keep=keep)
        return torch.log_softmax(out.logits[:, -keep:, :].float(), dim=-1)

    def label_logprobs(self, prompts, labels, batch_size=None):
        bs = batch_size or self.config.batch_size
        enc = self.encode(prompts)
        ids = [[self.label_token_ids(lab) for lab in labs] for labs in labels]
        out: list[np.ndarray | None] = [None] * len(prompts)
        single = [i for i in range(len(prompts)) if all(len(t) == 1 for t in ids[i])]
        multi = sorted(set(range(len(prompts))) - set(single))
        for batch in _batches(sorted(single, key=lambda i: -len(enc[i])), bs):
            logp = self.forward([enc[i] for i in batch], keep=1)[:, -1, :]
            for row, i in enumerate(batch):
                out[i] = logp[row, [t[0] for t in ids[i]]].cpu().numpy().astype(np.float64)
        if multi:
            self._sequence_logprobs(multi, enc, ids, out, bs)
        return out  # type: ignore[return-value]

    def _sequence_logprobs(self, items: list[int], enc, ids, out, bs: int) -> None:
        jobs = [(i, j) for i in items for j in range(len(ids[i]))]
        seqs = {(i, j): enc[i] + ids[i][j] for i, j in jobs}
        jobs.sort(key=lambda ij: -len(seqs[ij]))
        lp: dict[tuple[int, int], float] = {}
        for batch in _batches(list(range(len(jobs))), bs):
            keys = [jobs[b] for b in batch]
            keep = max(len(ids[i][j]) for i, j in keys) + 1
            logp = self.forward([seqs[k] for k in keys], keep=keep)
            for row, (i, j) in enumerate(keys):
                lab = ids[i][j]
                m = len(lab)
                # token t of the label is predicted at position -(m+1)+t
                lp[(i, j)] = float(sum(logp[row, -(m + 1) + t, tok].item() for t, tok in enumerate(lab)))
        for i in items:
            out[i] = np.array([lp[(i, j)] for j in range(len(ids[i]))])

    def generate(self, prompts, max_new_tokens, batch_size=None):
        import torch

        bs = batch_size or self.config.batch_size
        tok = self.tokenizer
        order = sorted(range(len(prompts)), key=lambda i: -len(prompts[i]))
        res: list[Generation | None] = [None] * len(prompts)
        device = self.device
        for idx in _batches(order, bs):
            enc = tok([prompts[i] for i in idx], return_tensors="pt", padding=True, add_special_tokens=False)
            with torch.inference_mode():
                gen = self.model.generate(**{k: v.to(device) for k, v in enc.items()}, max_new_tokens=max_new_tokens,
                                          do_sample=False, pad_token_id=tok.pad_token_id)
            new = gen[:, enc["input_ids"].shape[1]:]
            for row, i in enumerate(idx):
                res[i] = Generation(tok.decode(new[row], skip_special_tokens=True),
                                    int((new[row] != tok.pad_token_id).sum()))
        return res  # type: ignore[return-value]


def load_hf(cfg: LLMConfig) -> HFCausalLM:
    import torch
    from transformers import AutoModelForCausalLM

    check_local_refs(cfg)
    shipped = shipped_quantization(cfg)
    qconf = quantization_config(cfg, shipped)  # before the tokenizer: a missing extra fails first
    tok = load_tokenizer(cfg)
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
    return HFCausalLM(model, tok, cfg, {"dtype": str(next(model.parameters()).dtype),
                                        "device": str(next(model.parameters()).device)})
