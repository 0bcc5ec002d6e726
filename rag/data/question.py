"""The one question model every loader returns."""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

CHOICE_MARKS = "①②③④⑤⑥⑦⑧⑨⑩"
#: the two domains a question can be labelled with (label files, flat CSV and jsonl alike)
DOMAINS = ("korean", "social")


class Question(BaseModel):
    """A multiple-choice question.

    ``answer`` is 1-based (``choices[answer - 1]`` is correct) or None when unknown.
    ``domain`` is ``korean`` (answerable from the passage) or ``social`` (needs outside knowledge).
    """

    model_config = ConfigDict(extra="forbid")

    id: str
    paragraph: str = ""
    question: str
    choices: list[str]
    answer: int | None = None
    question_plus: str | None = Field(None, description="<보기> text, when present.")
    source: str | None = None
    subject: str | None = None
    domain: str | None = None
    hint: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("domain", mode="before")
    @classmethod
    def _known_domain(cls, v: Any) -> Any:
        """One meaning per value: ``korean`` or ``social`` (or none), as in label files; 사회, Social, 국어 … are
        refused with the row, not kept as a third domain that every figure would count apart."""
        if v is None or (isinstance(v, str) and not v.strip()):
            return None
        if v not in DOMAINS:
            raise ValueError(f"domain {v!r} is not one of {DOMAINS}")
        return v

    @property
    def n_choices(self) -> int:
        return len(self.choices)

    @property
    def answer_text(self) -> str | None:
        return None if self.answer is None else self.choices[self.answer - 1]

    def with_choices(self, order: list[int]) -> Question:
        """A copy whose choices are ``[choices[i] for i in order]`` (0-based), answer remapped."""
        if sorted(order) != list(range(self.n_choices)):
            raise ValueError(f"order {order} is not a permutation of {self.n_choices} choices")
        new_answer = None if self.answer is None else order.index(self.answer - 1) + 1
        return self.model_copy(update={"choices": [self.choices[i] for i in order], "answer": new_answer})

    def to_record(self) -> dict[str, Any]:
        return self.model_dump()
