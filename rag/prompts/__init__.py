"""Prompt building: passage, <보기>, question, numbered choices, retrieved context, hints; chat template;
a token budget that trims retrieved context first, then the middle of the passage, never the question or
the choices."""
from .builder import PromptBuilder, PromptResult
from .templates import TEMPLATES, PromptTemplate, load_template

__all__ = ["TEMPLATES", "PromptBuilder", "PromptResult", "PromptTemplate", "load_template"]
