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


def test_path_fields_read_data_and_cache_prefixes(tmp_path, monkeypatch, small_kb):
    """``retrieval.kb`` and ``router.model`` take ``data:`` (the data root) and ``cache:`` (the user cache) like
    every other path field; the assembly loads the knowledge base they name once."""
    import shutil

    from common.config import load_config
    from rag.assembly import Assembly
    from rag.router.classifier import SHIPPED_DIR

    monkeypatch.setenv("CSAT_CACHE_DIR", str(tmp_path / "cache"))
    shutil.copytree(small_kb[0], tmp_path / "cache" / "kbs" / "small")
    shutil.copytree(small_kb[0], tmp_path / "data" / "kb")
    shutil.copytree(SHIPPED_DIR / "default", tmp_path / "cache" / "routers" / "mine")
    for ref, where in (("cache:kbs/small", tmp_path / "cache" / "kbs" / "small"), ("data:kb", tmp_path / "data" / "kb")):
        cfg = load_config(None, [f"retrieval.kb={ref}", f"data.root={tmp_path / 'data'}", "retrieval.method=bm25",
                                 "router.model=cache:routers/mine"])
        parts = Assembly()
        kb = parts.knowledge_base(cfg)
        assert kb.dir.resolve() == where.resolve() and parts.retriever(cfg).kb is kb
        assert parts.router(cfg).artifact.meta == parts.router(load_config(None)).artifact.meta
    with pytest.raises(Exception, match="no router directory"):
        Assembly().router(load_config(None, ["router.model=cache:routers/none"]))


def test_llm_paths_read_prefixes_and_a_loaded_llm_is_reused(tiny_qwen_dir):
    """``llm.model: data:REL`` loads the model under the data root; an assembly handed that loaded LLM uses it for
    the config it was loaded for (keyed by the section as written, not the resolved path)."""
    from common.config import load_config
    from rag.assembly import Assembly
    from rag.llm import load_llm

    cfg = load_config(None, [f"data.root={tiny_qwen_dir.parent}", f"llm.model=data:{tiny_qwen_dir.name}",
                             "llm.dtype=float32"])
    llm = load_llm(cfg.llm, resolve=cfg.resolve_ref)
    assert llm.config.model == str(tiny_qwen_dir) and llm.requested.model == f"data:{tiny_qwen_dir.name}"
    assert Assembly(llm).llm(cfg) is llm
    with pytest.raises(KeyError, match="no model asset of that name"):
        load_llm(load_config(None, ["llm.model=cache:nope"]).llm)


def test_retrievers_read_their_settings_and_leave_the_knowledge_base_alone(small_kb):
    """Two retrievers over one loaded knowledge base cut queries at their own ``retrieval.max_query_chars``; neither
    writes it (or ``trust_remote_code``) onto the store."""
    import warnings

    from common.config import RetrievalConfig
    from knowledge_base.store import KnowledgeBase
    from retrievers import get_retriever

    kb = KnowledgeBase.load(small_kb[0])
    short = get_retriever(RetrievalConfig(method="bm25", max_query_chars=20), kb)
    long = get_retriever(RetrievalConfig(method="hybrid", max_query_chars=5000), kb)
    query = "세종 " * 100
    for r, cut in ((short, True), (long, False)):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            r.batch_retrieve([query], 3)
        assert any("cut to" in str(w.message) for w in caught) is cut
    assert kb.max_query_chars == KnowledgeBase.max_query_chars and kb.trust_remote_code is False
    with pytest.raises(ValueError, match="loaded without it"):
        get_retriever(RetrievalConfig(method="bm25", trust_remote_code=True), kb)
