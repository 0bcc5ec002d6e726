"""Shared fixtures: real rows from ../shared/data and tiny random models built locally (no network)."""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from tiny_models import build_tiny_encoder, build_tiny_qwen

from common.paths import default_data_root


@pytest.fixture(scope="session")
def data_root() -> Path:
    root = default_data_root()
    if not (root / "competition" / "train.csv").exists():
        pytest.fail(f"shared data not found at {root}; set CSAT_DATA_ROOT")
    return root


#: a directory where the built fixtures below are kept across test sessions (scripts/mutation.sh sets it: mutmut
#: starts a session per mutant, and rebuilding a model and a store each time would cost more than the tests)
FIXTURE_CACHE_ENV = "CSAT_TEST_FIXTURES"


def _built(tmp_path_factory, name: str, build) -> Path:
    """``build(dir)`` into a fresh temporary directory, or, with $CSAT_TEST_FIXTURES, into that cache once (keyed
    by the fixture code, so a changed builder builds again; concurrent sessions: the first to finish wins)."""
    root = os.environ.get(FIXTURE_CACHE_ENV)
    if not root:
        out = tmp_path_factory.mktemp(name)
        build(out)
        return out
    here = Path(__file__).resolve().parent
    from knowledge_base.manifest import FORMAT_VERSION  # a store of another format is rebuilt

    key = hashlib.sha256(b"".join((here / f).read_bytes() for f in ("conftest.py", "tiny_models.py"))
                         + str(FORMAT_VERSION).encode()).hexdigest()
    target = Path(root) / f"{name}-{key[:12]}"
    if not target.is_dir():
        Path(root).mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".{name}-"))
        build(tmp)
        try:
            os.rename(tmp, target)
        except OSError:  # another session put it there first
            shutil.rmtree(tmp, ignore_errors=True)
    return target


@pytest.fixture(scope="session")
def tiny_qwen_dir(tmp_path_factory) -> Path:
    """A tiny random Qwen2ForCausalLM + byte-level BPE tokenizer (digits single tokens), saved to disk."""
    return _built(tmp_path_factory, "tiny_qwen", build_tiny_qwen)


@pytest.fixture(scope="session")
def tiny_encoder_dir(tmp_path_factory) -> Path:
    """A tiny sentence-transformers encoder (BERT + WordPiece trained on Korean), saved to disk."""
    return _built(tmp_path_factory, "tiny_encoder", build_tiny_encoder)


@pytest.fixture(scope="session")
def train_rows(data_root):
    """A few dozen real competition-train questions with labels."""
    from rag.data import load_questions

    qs = load_questions(data_root / "competition" / "train.csv",
                        labels=data_root / "competition" / "train_sources.csv")
    korean = [q for q in qs if q.domain == "korean"][:12]
    social = [q for q in qs if q.domain == "social"][:12]
    return korean + social


@pytest.fixture(scope="session")
def small_kb(tmp_path_factory, data_root, tiny_encoder_dir):
    """A built knowledge base: 40 wiki articles + 30 BoolQ paragraphs, kiwi BM25, tiny-encoder flat FAISS."""
    from common.config import load_config
    from knowledge_base.build import build

    cfg = load_config(None, [
        ("kb.sources=[{name: wiki, path: 'data:kb/kowiki_social_2020.jsonl.gz', limit: 40},"
         " {name: kobest_boolq, path: 'data:kb/kobest/BoolQ/dev.tsv', limit: 30}]"),
        "kb.chunking.size=300", "kb.chunking.overlap=50", f"kb.encoder.model={tiny_encoder_dir}",
        "kb.encoder.query_prefix=", "kb.encoder.passage_prefix=", "kb.dense.shard_size=64"])
    return _built(tmp_path_factory, "kb", lambda out: build(cfg, out, progress=False)), cfg


@pytest.fixture(scope="session")
def router_data(data_root, train_rows):
    """The competition-train rows of ``train_rows`` and ten 수능 국어 items (both domains, 4 and 5 choices)."""
    from rag.data import load_questions

    kice = load_questions(data_root / "exams/kice/2016_11_KICE.json")[:10]
    return train_rows + kice
