"""Answer scoring by name (``scoring.method``): ``logits`` (one forward pass, probabilities over the choice
labels), ``evidence`` (retrieval-only, no LLM; ``rag.evidence``) and ``generate`` (generate, parse the first label, fall back to logits); ``permutations: k``
averages over k cyclic shifts of the choices."""
from .base import SCORERS, Scorer, make_scorer
from .permute import cyclic_orders, unpermute

__all__ = ["SCORERS", "Scorer", "cyclic_orders", "make_scorer", "unpermute"]
