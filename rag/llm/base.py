"""The language-model interface every backend implements, and the backend registry.

As lm-evaluation-harness's ``LM``: callers ask for what they need — the log-probability of each candidate
label after a prompt (``label_logprobs``: choice scoring, the LLM router) and greedy generation
(``generate``: generate scoring, hints) — and never reach into a backend's model object. ``hf``
(transformers), ``vllm`` (in-process) and ``openai`` (a served model, ``served.py``) implement both."""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from common import paths
from common.config import LLMConfig
from common.registry import Registry

LLM_BACKENDS: Registry = Registry("LLM backend", field="llm.backend", lazy={
    "hf": "rag.llm.hf:load_hf", "vllm": "rag.llm.vllm_backend:load_vllm", "openai": "rag.llm.served:load_served"})


class LLMRequestError(RuntimeError):
    """A request to a served model that failed (after its retries) or that the server cannot answer; ``prompt``:
    the prompt it was for, so a caller can name the question."""

    def __init__(self, message: str, prompt: str | None = None):
        super().__init__(message)
        self.prompt = prompt

    def naming(self, prompts: Sequence[str], ids: Sequence[str]) -> LLMRequestError:
        """This error with the id of the question whose prompt it was for (``ids[k]`` asked ``prompts[k]``)."""
        qid = next((i for p, i in zip(prompts, ids) if p == self.prompt), None)
        return self if qid is None else LLMRequestError(f"question {qid}: {self}", self.prompt)


@dataclass
class Generation:
    text: str  # decoded new text, special tokens skipped
    n_tokens: int  # new tokens generated (EOS included, padding not)


class LLM(ABC):
    """A loaded causal LM: its ``tokenizer`` (left padding; prompts are rendered with it), its config, and
    the two operations scorers, routers and hints use."""

    backend = "base"

    def __init__(self, tokenizer: Any, config: LLMConfig, info: dict[str, Any] | None = None):
        self.tokenizer, self.config = tokenizer, config
        #: the ``llm`` section it was loaded for, as written (``cache:demo``), where ``config`` holds the resolved
        #: paths; ``load_llm`` sets it and ``rag.assembly`` keys loaded LLMs by it
        self.requested = config
        self.info = info or {}
        self._label_ids: dict[str, list[int]] = {}

    @property
    def model_id(self) -> str:
        return self.config.model + (f"#{self.config.gguf_file}" if self.config.gguf_file else "") + \
            (f"+{self.config.adapter}" if self.config.adapter else "")

    def label_token_ids(self, label: str) -> list[int]:
        """The label's tokens as they follow a prompt (no special tokens); cached."""
        if label not in self._label_ids:
            self._label_ids[label] = self.tokenizer.encode(label, add_special_tokens=False)
        return self._label_ids[label]

    def encode(self, prompts: Sequence[str]) -> list[list[int]]:
        return [self.tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]

    @abstractmethod
    def label_logprobs(self, prompts: Sequence[str], labels: Sequence[Sequence[str]],
                       batch_size: int | None = None) -> list[np.ndarray]:
        """For each prompt, log p(label | prompt) of each of its candidate labels (a label of several tokens
        scores as the sum over its tokens)."""

    @abstractmethod
    def generate(self, prompts: Sequence[str], max_new_tokens: int, batch_size: int | None = None
                 ) -> list[Generation]:
        """Greedy continuation of each prompt."""


def load_llm(cfg: LLMConfig, resolve=None) -> LLM:
    """Load the model ``cfg`` names. ``llm.model`` / ``llm.tokenizer`` ``cache:NAME`` is a model asset
    (``rag.models``, e.g. ``demo``) fetched into the user cache on first use; ``resolve``: the run config's
    ``resolve_ref``, applied to the other references (``llm.model``, ``llm.tokenizer``, ``llm.adapter``). Each
    backend checks what it loads locally (``check_local_refs``)."""
    requested = cfg
    cfg = cfg.model_copy(update={"model": resolve_model_ref(cfg.model, resolve),
                                 "tokenizer": resolve_model_ref(cfg.tokenizer, resolve),
                                 "adapter": resolve(cfg.adapter) if resolve is not None else cfg.adapter})
    try:
        llm = LLM_BACKENDS.get(cfg.backend)(cfg)
    except OSError as e:  # transformers / huggingface_hub: not found locally and the Hub unreachable, …
        raise OSError(f"llm.model {cfg.model!r} could not be loaded: {str(e).splitlines()[0]}") from e
    llm.requested = requested
    return llm


def resolve_model_ref(ref: str | None, resolve=None) -> str | None:
    """``cache:NAME`` of a model asset → its transformers directory (converted on first use); another reference
    through ``resolve`` (the run config's ``resolve_ref``) where given."""
    from ..models import ASSETS

    if ref is None:
        return None
    asset = ref.split(":", 1)[1] if ref.startswith("cache:") else None
    if asset in ASSETS:
        from ..models import convert_to_hf

        return str(convert_to_hf(ASSETS[asset]))
    if asset is not None and resolve is None:
        raise KeyError(f"{ref!r}: no model asset of that name (assets: {', '.join('cache:' + a for a in sorted(ASSETS))})"
                       f" and no run config to resolve it as a path")
    return resolve(ref) if resolve is not None else ref


def check_local_refs(cfg: LLMConfig) -> None:
    """What an in-process backend loads: ``llm.model`` and ``llm.adapter`` (``check_model_ref``)."""
    check_model_ref(cfg.model, "llm.model")
    if cfg.adapter:
        check_model_ref(cfg.adapter, "llm.adapter")


def check_model_ref(ref: str, field: str) -> None:
    """``common.paths.check_model_ref`` (an existing local path or a Hub id), and a local directory must hold what
    ``field`` loads: a model (config.json or a .gguf) for ``llm.model``, a PEFT adapter for ``llm.adapter``."""
    local = Path(ref).expanduser()
    if local.is_dir():
        files = {p.name for p in local.iterdir()}
        if field == "llm.model" and "config.json" not in files and not any(f.endswith(".gguf") for f in files):
            raise FileNotFoundError(f"{field}: {ref!r} is a directory without a model (no config.json and no .gguf "
                                    f"file in it); point it at a transformers model directory or a GGUF file's folder")
        if field == "llm.adapter" and "adapter_config.json" not in files:
            raise FileNotFoundError(f"{field}: {ref!r} holds no adapter_config.json: not a PEFT adapter directory")
    paths.check_model_ref(ref, field)
