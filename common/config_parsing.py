"""Parsing a run config's text: dotted overrides (``section.key=value``, values as YAML scalars), key checks
against a pydantic model, alias-free YAML and readable validation errors. ``common.config`` builds the
typed ``RunConfig`` on these."""
from __future__ import annotations

from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from .components import COMPONENT_ERROR


class ConfigError(ValueError):
    """A config file or override is invalid; the message names the file and key."""


def check_key(model: type[BaseModel], dotted: str) -> None:
    """Raise ConfigError if ``dotted`` does not name a field path of ``model``."""
    cur: Any = model
    parts = dotted.split(".")
    for i, part in enumerate(parts):
        if not (isinstance(cur, type) and issubclass(cur, BaseModel)):
            return  # inside a free-form dict / list value
        fields = cur.model_fields
        if part not in fields:
            where = ".".join(parts[:i]) or "top level"
            raise ConfigError(
                f"unknown config key {dotted!r}: {part!r} is not a field of {where} "
                f"(known: {', '.join(sorted(fields))})")
        ann = fields[part].annotation
        cur = _unwrap(ann)


def _unwrap(ann: Any) -> Any:
    args = getattr(ann, "__args__", None)
    if args and getattr(ann, "__origin__", None) is not list:
        for a in args:
            if isinstance(a, type) and issubclass(a, BaseModel):
                return a
    return ann


def parse_override(item: str) -> tuple[str, Any]:
    if "=" not in item:
        raise ConfigError(f"override {item!r} must look like section.key=value")
    key, raw = item.split("=", 1)
    key = key.strip()
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key, value


def format_validation(err: ValidationError, origin: str) -> str:
    lines = [f"invalid config ({origin}):"]
    for e in err.errors():
        msg = str(e.get("ctx", {}).get("error", ""))
        if msg.startswith(COMPONENT_ERROR):
            lines.append("  " + msg[len(COMPONENT_ERROR):])
            continue
        loc = ".".join(str(p) for p in e["loc"])
        msg = "unknown key" if e["type"] == "extra_forbidden" else e["msg"]
        lines.append(f"  {loc}: {msg} (got {_short_repr(e.get('input'))})")
    return "\n".join(lines)


def _short_repr(value: Any, limit: int = 200) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text):,} characters)"


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe loader that refuses a mapping naming one key twice (YAML keeps the last silently)."""

    def construct_mapping(self, node, deep=False):
        seen = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise ConfigError(f"line {key_node.start_mark.line + 1}: key {key!r} given twice (first on line "
                                  f"{seen[key] + 1}); keep one")
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


def safe_yaml_load(text: str, origin: str) -> Any:
    """``yaml.safe_load`` that refuses aliases (``*name``: a 300-byte file of nested aliases expands to gigabytes
    once dumped, and a run config never needs them) and keys given twice in one mapping."""
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent):
                mark = event.start_mark
                raise ConfigError(f"{origin}: line {mark.line + 1}: YAML aliases (*{event.anchor}) are not "
                                  f"allowed in configs; write the value out")
        return yaml.load(text, Loader=_UniqueKeyLoader)
    except ConfigError as e:
        if str(e).startswith(origin):
            raise
        raise ConfigError(f"{origin}: {e}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{origin}: not valid YAML: {e}") from None
