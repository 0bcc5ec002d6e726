"""Routers by name (``router.name``): ``classifier`` (trained TF-IDF over Kiwi morphemes + logistic
regression, saved without pickle), ``keywords`` (transparent rules), ``llm`` (zero-shot with the configured
LLM), ``always-social`` / ``always-korean`` (ablations). Each returns a label and a confidence."""
from .base import ROUTERS, Route, Router, make_router

__all__ = ["ROUTERS", "Route", "Router", "make_router"]
