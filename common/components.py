"""Config fields that name a registered component, checked when a ``RunConfig`` is validated.

The registries say which field they name (``common.registry.Registry(..., field=...)``, collected in
``FIELDS``); this module imports no stage. A typo in ``scoring.method`` is then a config error naming the
registered choices before any model loads. A plugin registers into a registry (e.g. ``@SCORERS.register("mine")``)
in a module imported before the config is loaded. Checks beyond names (the options a ``kb.sources[]`` reader
accepts) are added by the stage that knows them (``CHECKS``).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .registry import FIELDS

COMPONENT_ERROR = "unknown component name(s):\n  "
#: further checks of a config (each returns error lines), added by the stages that own the fields
CHECKS: list[Callable[[Any], list[str]]] = []


def check_component_names(cfg: Any) -> None:
    """Raise ValueError naming the field and the registered choices for any unknown component name."""
    errors = []
    for field, reg in FIELDS.items():
        if "[]" in field:  # a list of sections, each with a name
            items = _get_dotted(cfg, field.split("[]")[0])
            values = [(f"{field.split('[]')[0]}[{i}].name", s.name) for i, s in enumerate(items)]
        else:
            values = [(field, _get_dotted(cfg, field))]
        for where, name in values:
            refusal = None if name is None else reg.unknown(str(name), where)
            if refusal:
                errors.append(refusal)
    if not errors:
        for check in CHECKS:
            errors += check(cfg)
    if errors:
        raise ValueError(COMPONENT_ERROR + "\n  ".join(errors))


def _get_dotted(cfg: Any, dotted: str) -> Any:
    obj: Any = cfg
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj
