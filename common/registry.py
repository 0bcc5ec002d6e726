"""Name → component registries, in the style of lm-evaluation-harness.

    SCORERS = Registry("scorer", field="scoring.method",
                       lazy={"logits": "rag.scoring.logits:LogitsScorer"})   # imported when first asked for

    @SCORERS.register("mine")          # a component in the registry's own module, or a plugin
    class MyScorer(Scorer): ...

    SCORERS.get("logits")              # -> the class; unknown names list what is available

Each name is declared once: by the decorator beside its implementation when it lives in the registry's module, or
as a ``"module:object"`` entry of the registry's ``lazy`` table when it lives in another module (that module is
imported on the first ``get``, so naming and validating a component costs no import of its implementation).
A registry that names the values of a config field says so (``field``); ``RunConfig`` validation checks those
fields against the registries declared (``FIELDS``) and imports nothing: every stage package imports its registry
modules (``rag/__init__.py``, ``retrievers/__init__.py``, ``knowledge_base/__init__.py``), so any use of a stage
declares all of its registries.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")

#: config field (dotted; ``section[].name`` for lists of sections) → the registry naming its values
FIELDS: dict[str, Registry] = {}


class Registry(Generic[T]):
    def __init__(self, kind: str, lazy: dict[str, str] | None = None, field: str | tuple[str, ...] = (),
                 accepts: Callable[[str], bool] | None = None, extra: tuple[str, ...] = ()):
        """``lazy``: name → ``"module:object"``; ``field``: the config field(s) whose values it names; ``extra``
        and ``accepts``: values such a field takes besides the names (``auto``; a template file)."""
        self.kind = kind
        self._items: dict[str, T] = {}
        self._lazy = dict(lazy or {})
        self.extra, self.accepts = tuple(extra), accepts
        for f in (field,) if isinstance(field, str) else field:
            FIELDS[f] = self

    def register(self, name: str, *aliases: str) -> Callable[[T], T]:
        def deco(obj: T) -> T:
            for key in (name, *aliases):
                if (key in self._items and self._items[key] is not obj) or key in self._lazy:
                    raise ValueError(f"{self.kind} {key!r} is already registered")
                self._items[key] = obj
            return obj

        return deco

    def get(self, name: str) -> T:
        if name not in self._items and name in self._lazy:
            module, _, attr = self._lazy[name].partition(":")
            self._items[name] = getattr(importlib.import_module(module), attr)
        try:
            return self._items[name]
        except KeyError:
            raise KeyError(
                f"unknown {self.kind} {name!r}; available: {', '.join(self.names()) or '(none)'}"
            ) from None

    def allows(self, value: str) -> bool:
        """Whether a config field this registry names may hold ``value``."""
        return value in self or value in self.extra or (self.accepts is not None and self.accepts(value))

    def unknown(self, value: str, where: str) -> str | None:
        """The refusal of ``value`` in the field ``where`` (naming the choices), or None when it is allowed."""
        if self.allows(value):
            return None
        return f"{where}: unknown {self.kind} {value!r}; choose one of {', '.join(sorted(self.extra) + self.names())}"

    def names(self) -> list[str]:
        return sorted({*self._items, *self._lazy})

    def __contains__(self, name: object) -> bool:
        return name in self._items or name in self._lazy

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
