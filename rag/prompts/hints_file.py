"""Reading a hints file (``prompt.hints_path``, written by ``python -m rag.hints``): one JSON object per line,
``{"id", "hint", "model", "template"}``."""
from __future__ import annotations

import json
from pathlib import Path


def load_hints(path: Path) -> dict[str, str]:
    """id → hint from a hints.jsonl (the newest entry per id wins)."""
    if not path.exists():
        raise FileNotFoundError(f"hints file not found: {path} (generate it with python -m rag.hints)")
    out = {}
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            if line.strip():
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    raise ValueError(f"{path}, line {i}: invalid JSON") from None
                out[rec["id"]] = rec["hint"]
    return out
