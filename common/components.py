"""Config fields that name a registered component, checked when a ``RunConfig`` is validated.

``COMPONENTS`` maps each such field to the module holding its registry, the registry's attribute and the
modules that register into it (imported on first check). A typo in ``scoring.method`` is then a config error
naming the registered choices before any model loads. A plugin registers into the registry (e.g.
``@SCORERS.register("mine")``) in a module imported before the config is loaded.
"""
from __future__ import annotations

import importlib
from typing import Any

#: field → (module holding the registry, registry attribute, modules that register into it)
COMPONENTS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "llm.backend": ("rag.llm.base", "LLM_BACKENDS", ("rag.llm.hf", "rag.llm.vllm_backend")),
    "scoring.method": ("rag.scoring.base", "SCORERS", ("rag.scoring.logits", "rag.scoring.generate", "rag.scoring.evidence")),
    "router.name": ("rag.router.base", "ROUTERS", ("rag.router.classifier", "rag.router.keywords",
                                                   "rag.router.llm_router")),
    "prompt.template": ("rag.prompts.templates", "TEMPLATES", ()),
    "kb.encoder.backend": ("knowledge_base.encoders", "ENCODERS", ()),
    "kb.sources[].name": ("knowledge_base.sources", "SOURCES", ()),
    "data.format": ("rag.data.loaders", "LOADERS", ()),
    "finetune.datasets[].name": ("rag.data.loaders", "LOADERS", ()),
}
COMPONENT_ERROR = "unknown component name(s):\n  "
#: values accepted besides registered names
_ALSO_ALLOWED = {"data.format": {"auto"}, "finetune.datasets[].name": {"auto"}}


def _registry(field: str):
    module, attr, registering = COMPONENTS[field]
    for m in registering:
        importlib.import_module(m)
    return getattr(importlib.import_module(module), attr)


def check_component_names(cfg: Any) -> None:
    """Raise ValueError naming the field and the registered choices for any unknown component name."""
    errors = []
    for field in COMPONENTS:
        if "[]" in field:  # a list of sections, each with a name
            items = _get_dotted(cfg, field.split("[]")[0])
            values = [(f"{field.split('[]')[0]}[{i}].name", s.name) for i, s in enumerate(items)]
        else:
            values = [(field, _get_dotted(cfg, field))]
        for where, name in values:
            if name is None or name in _ALSO_ALLOWED.get(field, ()):
                continue
            if field == "prompt.template" and (str(name).endswith((".yaml", ".yml")) or "/" in str(name)):
                continue  # a template file, checked when loaded
            reg = _registry(field)
            if name not in reg:
                extra = sorted(_ALSO_ALLOWED.get(field, ()))
                errors.append(f"{where}: unknown {reg.kind} {name!r}; choose one of "
                              f"{', '.join(extra + reg.names())}")
    if not errors:
        errors += _source_option_errors(cfg)
    if errors:
        raise ValueError(COMPONENT_ERROR + "\n  ".join(errors))


def _source_option_errors(cfg: Any) -> list[str]:
    """Options of ``kb.sources[]`` the named reader does not accept (a typo is an error, not ignored)."""
    if not cfg.kb.sources:
        return []
    sources = importlib.import_module("knowledge_base.sources")
    errors = []
    for i, src in enumerate(cfg.kb.sources):
        try:
            sources.check_options(src.name, src.options)
        except ValueError as e:
            errors.append(f"kb.sources[{i}].options: {e}")
    return errors


def _get_dotted(cfg: Any, dotted: str) -> Any:
    obj: Any = cfg
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj
