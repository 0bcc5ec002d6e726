"""What the router commands read from their arguments (``python -m router_training train`` and
``python -m eval.router``): labelled questions, family names, encoder choices."""
from __future__ import annotations

import sys

from common.cli import fail
from rag.data import DataError, attach_labels, load_questions
from rag.router.base import KOREAN, SOCIAL
from rag.router.params import RouterParams

from .families import FAMILIES


def labelled_questions(paths: list[str], labels: list[str], fmt: str):
    """The questions of ``paths`` with the domain labels of ``labels`` attached; unlabelled ones are counted on
    stderr and left out; a data error ends the command."""
    qs = []
    for p in paths:
        try:
            part = load_questions(p, format=fmt)
            for lab in labels:
                attach_labels(part, lab)
        except DataError as e:
            fail(str(e), 2)
        qs.extend(part)
    unlabelled = [q for q in qs if q.domain not in (KOREAN, SOCIAL)]
    if unlabelled:
        print(f"note: {len(unlabelled)} questions have no domain label and are left out "
              f"(e.g. {', '.join(q.id for q in unlabelled[:3])})", file=sys.stderr)
    return [q for q in qs if q.domain in (KOREAN, SOCIAL)]


def family_names(spec: str | None) -> list[str]:
    """``--families a,b`` (``default``: the shipped router's set), checked against the registry."""
    if not spec:
        return []
    names = [n.strip() for n in spec.split(",") if n.strip()]
    for n in names:
        if n != "default" and n not in FAMILIES:
            fail(f"unknown family {n!r}; families: default, {', '.join(FAMILIES.names())}", 2)
    return names


def encoder_arg(text: str) -> str | None:
    """``--student`` / ``--second-opinion``: an encoder backend, or 'none'."""
    return None if text.lower() == "none" else text


def params_with(items: list[str], base: RouterParams | None = None) -> RouterParams:
    """``base`` (default settings when None) with ``KEY=VALUE`` settings applied (``--set``; values parsed as YAML
    scalars, ``none`` is None); an unknown key or a bad value is a ``ValueError`` naming it."""
    import yaml
    from pydantic import ValidationError

    base = base if base is not None else RouterParams()
    fields = [k for k in RouterParams.model_fields if k != "lexicon"]
    update = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in fields:
            raise ValueError(f"router setting {item!r}: expected KEY=VALUE with KEY one of {', '.join(fields)}")
        update[key] = yaml.safe_load(value) if value.strip().lower() not in ("none", "null") else None
    try:
        return RouterParams.model_validate({**base.model_dump(), **update})
    except ValidationError as e:
        err = e.errors()[0]
        raise ValueError(f"router setting {'.'.join(map(str, err['loc']))}: {err['msg']}") from None
