"""Prompt templates by name, or from a YAML file with the same fields.

The Korean default follows the competition baseline (지문 / 질문 / <보기> / 선택지 / "… 중에 하나를 정답으로
고르세요. 정답:") and adds 참고 자료 (retrieved chunks with titles) and 힌트 sections."""
from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict

from common.config import safe_yaml_load
from common.registry import Registry


class PromptTemplate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    system: str = "지문을 읽고 질문의 답을 구하세요."
    passage: str = "지문:\n{paragraph}"
    question_plus: str = "<보기>:\n{question_plus}"
    question: str = "질문:\n{question}"
    choices_header: str = "선택지:"
    choice: str = "{label} - {text}"
    context_header: str = "참고 자료:"
    context_item: str = "[{rank}] {title}\n{text}"
    choice_context_header: str = "({label}번 선택지 관련)"
    hint: str = "힌트:\n{hint}"
    instruction: str = "{labels} 중에 하나를 정답으로 고르세요.\n정답:"
    order: tuple[str, ...] = ("context", "passage", "question", "question_plus", "choices", "hint", "instruction")
    separator: str = "\n\n"


TEMPLATES: Registry[PromptTemplate] = Registry("prompt template")
TEMPLATES.register("default")(PromptTemplate(name="default"))
TEMPLATES.register("korean-baseline")(PromptTemplate(name="korean-baseline", order=(
    "passage", "question", "question_plus", "choices", "instruction")))
TEMPLATES.register("english")(PromptTemplate(
    name="english", system="Read the passage and answer the question.", passage="Passage:\n{paragraph}",
    question_plus="<Example>:\n{question_plus}", question="Question:\n{question}", choices_header="Choices:",
    context_header="Reference material:", choice_context_header="(for choice {label})", hint="Hint:\n{hint}",
    instruction="Answer with one of {labels}.\nAnswer:"))


def load_template(name_or_path: str) -> PromptTemplate:
    if name_or_path in TEMPLATES:
        return TEMPLATES.get(name_or_path)
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") and p.exists():
        data = safe_yaml_load(p.read_text(encoding="utf-8"), str(p)) or {}
        return PromptTemplate.model_validate({"name": p.stem, **data})
    raise KeyError(f"unknown prompt template {name_or_path!r}: not one of {TEMPLATES.names()} nor a YAML file")
