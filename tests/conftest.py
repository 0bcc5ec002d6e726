"""Shared fixtures: real rows from ../shared/data and tiny random models built locally (no network)."""
from __future__ import annotations

import os
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


@pytest.fixture(scope="session")
def tiny_qwen_dir(tmp_path_factory) -> Path:
    """A tiny random Qwen2ForCausalLM + byte-level BPE tokenizer (digits single tokens), saved to disk."""
    return build_tiny_qwen(tmp_path_factory.mktemp("tiny_qwen"))


@pytest.fixture(scope="session")
def tiny_encoder_dir(tmp_path_factory) -> Path:
    """A tiny sentence-transformers encoder (BERT + WordPiece trained on Korean), saved to disk."""
    return build_tiny_encoder(tmp_path_factory.mktemp("tiny_encoder"))


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

    out = tmp_path_factory.mktemp("kb")
    cfg = load_config(None, [
        ("kb.sources=[{name: wiki, path: 'data:kb/kowiki_social_2020.jsonl.gz', limit: 40},"
         " {name: kobest_boolq, path: 'data:kb/kobest/BoolQ/dev.tsv', limit: 30}]"),
        "kb.chunking.size=300", "kb.chunking.overlap=50", f"kb.encoder.model={tiny_encoder_dir}",
        "kb.encoder.query_prefix=", "kb.encoder.passage_prefix=", "kb.dense.shard_size=64"])
    build(cfg, out, progress=False)
    return out, cfg


@pytest.fixture(scope="session")
def router_data(data_root, train_rows):
    """The competition-train rows of ``train_rows`` and ten 수능 국어 items (both domains, 4 and 5 choices)."""
    from rag.data import load_questions

    kice = load_questions(data_root / "exams/kice/2016_11_KICE.json")[:10]
    return train_rows + kice
