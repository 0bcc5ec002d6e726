"""``llm.backend: openai`` — a model already served behind an OpenAI-compatible API (``vllm serve``, SGLang, the
llama.cpp server, Ollama, a hosted endpoint). The model runs in the server; this process keeps its tokenizer
(``llm.tokenizer``, default ``llm.model``) to render and count prompts exactly as the ``hf`` backend does.

``llm.api: completions`` (default) sends the prompt text rendered here, chat template included, so every backend
sees the same text. ``label_logprobs`` reads each label from the ``top_logprobs`` of a one-token completion; a label
of several tokens, or one outside the top ``llm.top_logprobs``, is scored exactly from ``echo`` (the prompt +
label's own token log-probabilities), one request per such label. ``llm.api: chat`` sends the messages the prompt
was rendered from (the server applies its template) and reads labels from the chat response's ``top_logprobs``;
chat endpoints give no prompt log-probabilities, so a label that needs ``echo`` is refused there.

What each server offers (docs/served.md): vLLM and SGLang — completions with ``logprobs`` and ``echo``, chat;
llama-cpp-python's server — completions with ``logprobs`` and ``echo``, chat; Ollama and hosted chat-only
endpoints — generation, and log-probabilities only where the server returns them (the backend refuses with the
server named when a response has none)."""
from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from common.config import LLMConfig

from .base import LLM, Generation, LLMRequestError
from .http_client import OpenAIClient


class ChatPrompt(str):
    """A prompt rendered from chat messages that carries them: its text is what the tokenizer's template makes of
    them (counted for the prompt budget), ``messages`` what ``llm.api: chat`` sends."""

    messages: list[dict]

    def __new__(cls, text: str, messages: list[dict]):
        s = super().__new__(cls, text)
        s.messages = messages
        return s


class ChatTokenizer:
    """The tokenizer for ``llm.api: chat``: the real one in every respect except that a chat template rendered as
    text comes back as a ``ChatPrompt``."""

    def __init__(self, tokenizer: Any):
        self._tok = tokenizer

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tok, name)

    def __call__(self, *args, **kwargs):
        return self._tok(*args, **kwargs)

    def apply_chat_template(self, messages, tokenize: bool = False, **kwargs):
        out = self._tok.apply_chat_template(messages, tokenize=tokenize, **kwargs)
        return ChatPrompt(out, [dict(m) for m in messages]) if isinstance(out, str) else out


def messages_of(prompt: str) -> list[dict]:
    """The chat messages of a prompt: a ``ChatPrompt``'s own; a prompt rendered without a template (``prompt.
    chat_template: false``) is sent as one user message."""
    return prompt.messages if isinstance(prompt, ChatPrompt) else [{"role": "user", "content": str(prompt)}]


def _first(resp: Any, where: str) -> dict:
    choices = resp.get("choices") if isinstance(resp, dict) else None
    if not choices or not isinstance(choices[0], dict):
        raise LLMRequestError(f"{where}: the answer has no choices: {str(resp)[:200]}")
    return choices[0]


class ServedLLM(LLM):
    backend = "openai"

    def __init__(self, tokenizer: Any, config: LLMConfig, client: OpenAIClient, info: dict[str, Any] | None = None):
        super().__init__(ChatTokenizer(tokenizer) if config.api == "chat" else tokenizer, config, info)
        self.client = client
        self._label_text: dict[str, str | None] = {}

    @property
    def model_id(self) -> str:
        return f"{self.config.model}@{self.config.base_url}"

    def label_text(self, label: str) -> str | None:
        """How the server names the label's token in ``top_logprobs`` (its decoded text), or None for a label of
        several tokens."""
        if label not in self._label_text:
            ids = self.label_token_ids(label)
            self._label_text[label] = self.tokenizer.decode(ids) if len(ids) == 1 else None
        return self._label_text[label]

    # ------------------------------------------------------------------ requests
    def _top(self, prompt: str) -> dict[str, float]:
        """The top log-probabilities of the token after ``prompt``, by token text."""
        k, model = self.config.top_logprobs, self.config.model
        if self.config.api == "chat":
            where = "chat/completions"
            resp = self.client.post("/chat/completions", {
                "model": model, "messages": messages_of(prompt), "max_tokens": 1, "temperature": 0.0,
                "logprobs": True, "top_logprobs": k})
            lp = _first(resp, where).get("logprobs") or {}
            content = lp.get("content") if isinstance(lp, dict) else None
            top = content[0].get("top_logprobs") if content else None
            pairs = [(t.get("token"), t.get("logprob")) for t in top] if isinstance(top, list) else None
        else:
            where = "completions"
            resp = self.client.post("/completions", {
                "model": model, "prompt": str(prompt), "max_tokens": 1, "temperature": 0.0, "logprobs": k})
            lp = _first(resp, where).get("logprobs") or {}
            tops = lp.get("top_logprobs") if isinstance(lp, dict) else None
            pairs = list(tops[0].items()) if tops and isinstance(tops[0], dict) else None
        if not pairs:
            raise LLMRequestError(f"{self.client.base_url}/{where}: the server returned no top_logprobs for the "
                                  f"answer token, so it cannot score labels; use scoring.method=generate with this "
                                  f"server, or a server that returns log-probabilities (vLLM, SGLang, llama.cpp)")
        top: dict[str, float] = {}
        for tok, val in pairs:
            if isinstance(tok, str) and isinstance(val, (int, float)):
                top[tok] = max(float(val), top.get(tok, -np.inf))  # two ids may decode to the same text
        return top

    def _echo(self, prompt: str, label: str) -> float:
        """log p(label | prompt) from the prompt log-probabilities of ``prompt + label`` (``echo``)."""
        if self.config.api == "chat":
            raise LLMRequestError(
                f"label {label!r} is not among the answer token's top {self.config.top_logprobs} log-probabilities "
                f"(or is several tokens), and chat endpoints return no prompt log-probabilities to score it exactly: "
                f"use llm.api=completions (echo) or raise llm.top_logprobs")
        m = len(self.label_token_ids(label))
        resp = self.client.post("/completions", {
            "model": self.config.model, "prompt": str(prompt) + label, "max_tokens": 1, "temperature": 0.0,
            "logprobs": 1, "echo": True})
        choice = _first(resp, "completions")
        lp = choice.get("logprobs") or {}
        tokens, values = lp.get("tokens"), lp.get("token_logprobs")
        if not tokens or not values or len(tokens) != len(values):
            raise LLMRequestError(f"{self.client.base_url}/completions: no prompt log-probabilities with echo=true; "
                                  f"this server cannot score label {label!r} (several tokens or outside the top "
                                  f"{self.config.top_logprobs}): raise llm.top_logprobs or use vLLM / SGLang / "
                                  f"llama-cpp-python")
        usage = resp.get("usage") or {}
        n_prompt = usage.get("prompt_tokens")
        if not isinstance(n_prompt, int) or not m <= n_prompt <= len(tokens):
            n_prompt = len(tokens) - int(usage.get("completion_tokens") or 1)
        span = tokens[n_prompt - m:n_prompt]
        if "".join(span) != label or any(v is None for v in values[n_prompt - m:n_prompt]):
            raise LLMRequestError(f"the server split prompt + label {label!r} into tokens differently from "
                                  f"llm.tokenizer (its last prompt tokens {tokens[max(0, n_prompt - m - 2):n_prompt]}): "
                                  f"set llm.tokenizer to the served model's tokenizer")
        return float(sum(values[n_prompt - m:n_prompt]))

    # ------------------------------------------------------------------ the LLM interface
    def label_logprobs(self, prompts: Sequence[str], labels: Sequence[Sequence[str]],
                       batch_size: int | None = None) -> list[np.ndarray]:
        texts = [[self.label_text(lab) for lab in labs] for labs in labels]
        asked = [i for i, t in enumerate(texts) if any(x is not None for x in t)]
        tops = dict(zip(asked, self.client.map(self._top, [prompts[i] for i in asked], prompt_of=lambda p: p)))
        out, exact = [], []
        for i, labs in enumerate(labels):
            top = tops.get(i, {})
            row = np.full(len(labs), np.nan)
            for j, t in enumerate(texts[i]):
                if t is not None and t in top:
                    row[j] = top[t]
                else:
                    exact.append((i, j))
            out.append(row)
        if exact:
            values = self.client.map(lambda ij: self._echo(prompts[ij[0]], labels[ij[0]][ij[1]]), exact,
                                     prompt_of=lambda ij: prompts[ij[0]])
            for (i, j), v in zip(exact, values):
                out[i][j] = v
        return out

    def _generate_one(self, prompt: str, max_new_tokens: int) -> Generation:
        if self.config.api == "chat":
            resp = self.client.post("/chat/completions", {
                "model": self.config.model, "messages": messages_of(prompt), "max_tokens": max_new_tokens,
                "temperature": 0.0})
            msg = _first(resp, "chat/completions").get("message") or {}
            text = msg.get("content") or ""
        else:
            resp = self.client.post("/completions", {
                "model": self.config.model, "prompt": str(prompt), "max_tokens": max_new_tokens, "temperature": 0.0})
            text = _first(resp, "completions").get("text") or ""
        n = (resp.get("usage") or {}).get("completion_tokens")
        return Generation(text, int(n) if isinstance(n, int) else len(self.tokenizer.encode(text,
                                                                                              add_special_tokens=False)))

    def generate(self, prompts: Sequence[str], max_new_tokens: int, batch_size: int | None = None
                 ) -> list[Generation]:
        return self.client.map(lambda p: self._generate_one(p, max_new_tokens), list(prompts), prompt_of=lambda p: p)


def served_models(client: OpenAIClient) -> list[str] | None:
    """The model names the server lists (``GET /models``), or None where it lists none."""
    resp = client.get("/models")
    data = resp.get("data") if isinstance(resp, dict) else None
    if not isinstance(data, list):
        return None
    return [str(m.get("id")) for m in data if isinstance(m, dict) and m.get("id") is not None]


def load_served(cfg: LLMConfig) -> ServedLLM:
    """Connect to ``llm.base_url`` (its model list is read once: an unreachable server or a model it does not serve
    fails here, before any question) and load ``llm.tokenizer``."""
    from .hf import load_tokenizer

    if not cfg.base_url:
        raise ValueError("llm.backend=openai needs llm.base_url, the server's API root (e.g. "
                         "http://localhost:8000/v1 for `vllm serve`)")
    if not cfg.base_url.startswith(("http://", "https://")):
        raise ValueError(f"llm.base_url {cfg.base_url!r}: not an http:// or https:// URL")
    key = None
    if cfg.api_key_env:
        key = os.environ.get(cfg.api_key_env)
        if not key:
            raise ValueError(f"llm.api_key_env names ${cfg.api_key_env}, which is not set: export the server's key "
                             f"there (the key itself never goes into a config)")
    client = OpenAIClient(cfg.base_url, key, cfg.timeout, cfg.max_retries, cfg.max_concurrency)
    names = served_models(client)
    if names is not None and names and cfg.model not in names:
        raise ValueError(f"llm.model {cfg.model!r}: the server at {cfg.base_url} serves {', '.join(names)}")
    ref = cfg.tokenizer or cfg.model
    try:
        tok = load_tokenizer(cfg.model_copy(update={"model": ref}))
    except OSError as e:  # not a local directory, and the Hub unreachable or without that id
        raise ValueError(f"llm.tokenizer {ref!r} could not be loaded ({str(e).splitlines()[0]}): set llm.tokenizer to "
                         f"the served model's tokenizer (a Hub id, a local directory, cache:NAME)") from None
    return ServedLLM(tok, cfg, client, {"base_url": cfg.base_url, "api": cfg.api, "served_models": names})
