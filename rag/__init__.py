"""Questions in, answers out: data layer, router, prompts, LLM backends, scoring, prediction."""

# the registries whose names a config takes (``common.registry.FIELDS``), with those of the stages before
import knowledge_base  # noqa: F401
import retrievers  # noqa: F401

from .data import loaders, suites  # noqa: F401
from .llm import base as _llm  # noqa: F401
from .prompts import templates  # noqa: F401
from .router import base as _router  # noqa: F401
from .scoring import base as _scoring  # noqa: F401
