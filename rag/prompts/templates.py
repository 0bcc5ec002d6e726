"""Prompt templates by name, or from a YAML file with the same fields.

The Korean default follows the competition baseline (지문 / 질문 / <보기> / 선택지 / "… 중에 하나를 정답으로
고르세요. 정답:") and adds 참고 자료 (retrieved chunks with titles) and 힌트 sections."""
from __future__ import annotations

import string
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from common.config import safe_yaml_load
from common.registry import Registry

#: the fields each part of a template is formatted with
PLACEHOLDERS = {"system": set(), "passage": {"paragraph"}, "question_plus": {"question_plus"},
                "question": {"question"}, "choices_header": set(), "choice": {"label", "text"},
                "context_header": set(), "context_item": {"rank", "title", "text"},
                "choice_context_header": {"label"}, "hint": {"hint"}, "instruction": {"labels"}}
SECTIONS = frozenset({"context", "passage", "question", "question_plus", "choices", "hint", "instruction"})


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

    @model_validator(mode="after")
    def _known_placeholders(self) -> PromptTemplate:
        """Each part names only the fields it is formatted with (a ``{subject}`` in ``question`` would fail on the
        first question, after the model loaded): an unknown placeholder is refused when the template is read."""
        for part, allowed in PLACEHOLDERS.items():
            text = getattr(self, part)
            try:
                names = {f for _, f, _, _ in string.Formatter().parse(text) if f is not None}
            except ValueError as e:
                raise ValueError(f"template {self.name!r}, {part}: {e} (write {{{{ and }}}} for literal braces)") \
                    from None
            bad = sorted(n for n in names if n.split(".")[0].split("[")[0] not in allowed)
            if bad:
                raise ValueError(f"template {self.name!r}, {part}: unknown placeholder(s) "
                                 f"{', '.join('{' + b + '}' for b in bad)}; {part} takes "
                                 f"{', '.join('{' + a + '}' for a in sorted(allowed)) or 'none'}")
        unknown = sorted(set(self.order) - SECTIONS)
        if unknown:
            raise ValueError(f"template {self.name!r}, order: unknown section(s) {unknown}; sections are "
                             f"{sorted(SECTIONS)}")
        return self


def is_template_file(value: str) -> bool:
    """A ``prompt.template`` value that names a YAML file (checked when it is loaded) rather than a template."""
    return value.endswith((".yaml", ".yml")) or "/" in value


TEMPLATES: Registry[PromptTemplate] = Registry("prompt template", field="prompt.template", accepts=is_template_file)


def _builtin(t: PromptTemplate) -> None:
    TEMPLATES.register(t.name)(t)


_builtin(PromptTemplate(name="default"))
_builtin(PromptTemplate(name="korean-baseline", order=("passage", "question", "question_plus", "choices",
                                                       "instruction")))
_builtin(PromptTemplate(
    name="english", system="Read the passage and answer the question.", passage="Passage:\n{paragraph}",
    question_plus="<Example>:\n{question_plus}", question="Question:\n{question}", choices_header="Choices:",
    context_header="Reference material:", choice_context_header="(for choice {label})", hint="Hint:\n{hint}",
    instruction="Answer with one of {labels}.\nAnswer:"))


def load_template(name_or_path: str) -> PromptTemplate:
    if name_or_path in TEMPLATES:
        return TEMPLATES.get(name_or_path)
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml"):
        if not p.is_file():
            raise ValueError(f"prompt.template {name_or_path!r}: no such template file")
        data = safe_yaml_load(p.read_text(encoding="utf-8"), str(p)) or {}
        if not isinstance(data, dict):
            raise ValueError(f"{p}: a template is a mapping of its parts")
        try:
            return PromptTemplate.model_validate({"name": p.stem, **data})
        except ValidationError as e:
            err = e.errors()[0]
            where = ".".join(map(str, err["loc"]))
            raise ValueError(f"{p}: {where + ': ' if where else ''}{err['msg'].removeprefix('Value error, ')}") \
                from None
    raise KeyError(f"unknown prompt template {name_or_path!r}: not one of {TEMPLATES.names()} nor a YAML file")
