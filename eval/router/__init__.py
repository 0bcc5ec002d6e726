"""Evaluating routers: accuracy on labelled questions (``python -m eval.router eval``) and the leave-one-family-out
folds with the threshold frontier (``lofo.py``, ``python -m eval.router lofo``)."""
