"""Render a question into the model's prompt within a token budget."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from common.config import PromptConfig
from common.hashing import short_hash

from ..data.question import Question
from .templates import PromptTemplate, load_template

ELLIPSIS = " …(중략)… "


@dataclass
class PromptResult:
    text: str
    n_tokens: int
    context_used: int  # retrieved chunks kept
    context_dropped: int  # retrieved chunks removed for the budget
    passage_trimmed_chars: int  # characters cut from the middle of the passage
    over_budget: bool  # question + choices alone exceed the budget (never cut)
    meta: dict[str, Any] = field(default_factory=dict)


def labels_for(n: int) -> list[str]:
    return [str(i) for i in range(1, n + 1)]


class PromptBuilder:
    def __init__(self, tokenizer, cfg: PromptConfig | None = None, template: PromptTemplate | None = None):
        self.tok = tokenizer
        self.cfg = cfg or PromptConfig()
        self.template = template or load_template(self.cfg.template)
        self.use_chat = bool(self.cfg.chat_template and getattr(tokenizer, "chat_template", None))

    @property
    def template_hash(self) -> str:
        blob = self.template.model_dump_json() + f"|chat={self.use_chat}|max={self.cfg.max_tokens}"
        return short_hash(blob)

    # ------------------------------------------------------------------ rendering
    def _body(self, q: Question, passage: str, context: list[dict], hint: str | None) -> str:
        t = self.template
        labels = labels_for(q.n_choices)
        parts: dict[str, str] = {}
        if context and any(c.get("choice") for c in context):  # per-choice evidence, grouped under its choice
            blocks, rank = [], 0
            for k, lab in enumerate(labels, 1):
                mine = [c for c in context if c.get("choice") == k]
                if mine:
                    items = []
                    for c in mine:
                        rank += 1
                        items.append(t.context_item.format(rank=rank, title=c.get("title") or "", text=_strip_title(c)))
                    blocks.append(t.choice_context_header.format(label=lab) + "\n" + "\n\n".join(items))
            parts["context"] = t.context_header + "\n" + "\n\n".join(blocks)
        elif context:
            items = [t.context_item.format(rank=i, title=c.get("title") or "", text=_strip_title(c))
                     for i, c in enumerate(context, 1)]
            parts["context"] = t.context_header + "\n" + "\n\n".join(items)
        if passage.strip():
            parts["passage"] = t.passage.format(paragraph=passage)
        parts["question"] = t.question.format(question=q.question.strip())
        if q.question_plus:
            parts["question_plus"] = t.question_plus.format(question_plus=q.question_plus)
        parts["choices"] = t.choices_header + "\n" + "\n".join(
            t.choice.format(label=lab, text=c) for lab, c in zip(labels, q.choices))
        if hint:
            parts["hint"] = t.hint.format(hint=hint)
        parts["instruction"] = t.instruction.format(labels=", ".join(labels))
        return t.separator.join(parts[k] for k in t.order if k in parts)

    def render(self, q: Question, passage: str | None = None, context: list[dict] | None = None,
               hint: str | None = None) -> str:
        body = self._body(q, q.paragraph if passage is None else passage, context or [], hint)
        if not self.use_chat:
            return (self.template.system + "\n\n" + body) if self.template.system else body
        messages = ([{"role": "system", "content": self.template.system}] if self.template.system else [])
        messages.append({"role": "user", "content": body})
        return self.tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def count(self, text: str) -> int:
        return len(self.tok(text, add_special_tokens=False)["input_ids"])

    # ------------------------------------------------------------------ budget
    def build(self, q: Question, context: list[dict] | None = None, hint: str | None = None) -> PromptResult:
        """Render within ``prompt.max_tokens``: drop retrieved chunks (lowest-ranked first), then cut the
        middle of the passage; the question, <보기> and choices are never cut."""
        budget = self.cfg.max_tokens
        context = list(context or [])[: self.cfg.max_context_chunks]
        passage = q.paragraph
        text = self.render(q, passage, context, hint)
        n = self.count(text)
        dropped = 0
        while n > budget and context:
            context.pop()
            dropped += 1
            text = self.render(q, passage, context, hint)
            n = self.count(text)
        trimmed = 0
        if n > budget and passage:
            keep = len(passage)
            for _ in range(8):
                over = n - budget
                if over <= 0 or keep == 0:
                    break
                per_char = max(self.count(passage) / max(len(passage), 1), 1e-3)
                keep = max(0, keep - int(over / per_char) - 8)
                cut = _cut_middle(passage, keep)
                text = self.render(q, cut, context, hint)
                n = self.count(text)
            trimmed = len(passage) - keep
        return PromptResult(text, n, len(context), dropped, trimmed, n > budget)


def _cut_middle(passage: str, keep: int) -> str:
    if keep >= len(passage):
        return passage
    if keep <= 0:
        return ""
    head = keep // 2
    return passage[:head].rstrip() + ELLIPSIS + passage[len(passage) - (keep - head):].lstrip()


def _strip_title(chunk: dict) -> str:
    text, title = chunk.get("text") or "", chunk.get("title") or ""
    return text[len(title) + 1:] if title and text.startswith(title + "\n") else text
