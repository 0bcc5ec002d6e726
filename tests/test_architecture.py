"""The structure the code promises: stages import only earlier stages, config validation imports no stage,
registries name each component once and import it only when asked for."""
import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: the stages in data-flow order; a module may import its own stage and those before it
STAGES = [("common",), ("knowledge_base",), ("retrievers",), ("rag",), ("router_training", "finetune"), ("eval",)]
RANK = {name: i for i, group in enumerate(STAGES) for name in group}


def _imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module


def test_no_module_imports_a_later_stage():
    wrong = []
    for stage, rank in RANK.items():
        for f in (ROOT / stage).rglob("*.py"):
            for module in _imports(f):
                top = module.split(".")[0]
                if top in RANK and RANK[top] > rank:
                    wrong.append(f"{f.relative_to(ROOT)} imports {module}")
    assert not wrong, "\n".join(wrong)


def _run(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_config_validation_imports_no_stage_and_no_implementation():
    """Validating a config imports nothing above ``common``; with the stages' registries declared (``import rag``),
    names are checked against them without importing one implementation module."""
    code = """
import sys
from common.config import load_config
load_config(None)
print(sorted(m for m in sys.modules if m.split('.')[0] in ('rag', 'knowledge_base', 'retrievers', 'eval')))
import rag
from common.config import ConfigError
before = set(sys.modules)
try:
    load_config(None, ['scoring.method=logit'])
except ConfigError as e:
    print('refused' if 'choose one of evidence, generate, logits' in str(e) else e)
load_config(None, ['retrieval.method=bm25', 'router.name=keywords', 'llm.backend=vllm'])
print(sorted(m for m in set(sys.modules) - before if m.split('.')[0] in ('rag', 'knowledge_base', 'retrievers')))
"""
    stages, refused, loaded = _run(code).splitlines()
    assert stages == "[]" and refused == "refused" and loaded == "[]"


def test_every_registered_name_is_its_components_name():
    """A lazy entry ("module:object") resolves to a component whose own ``name`` is the registered one; a name
    declared lazily cannot be registered again."""
    import rag  # noqa: F401  (declares the registries)
    from common.registry import FIELDS, Registry

    checked = 0
    for field, reg in FIELDS.items():
        for name in reg.names():
            obj = reg.get(name)
            if isinstance(obj, type) and "name" in vars(obj):
                assert obj.name == name, f"{field}: {name!r} is a component named {obj.name!r}"
                checked += 1
    assert checked >= 12
    reg = Registry("thing", lazy={"a": "json:dumps"})
    assert "a" in reg and reg.names() == ["a"] and reg.get("a").__name__ == "dumps"
    with pytest.raises(ValueError, match="already registered"):
        reg.register("a")(len)
    with pytest.raises(KeyError, match="available: a"):
        reg.get("b")
