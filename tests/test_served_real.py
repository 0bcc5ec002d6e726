"""The served backend against a real server: llama-cpp-python's OpenAI-compatible server on the demo GGUF, and the
same model in-process (``hf``). Skipped — with the reason printed by ``-ra`` — where ``llama-cpp-python[server]`` is
not installed (CI: its source build takes minutes; ``pip install -e '.[served]'``) or the demo model is not in the
user cache (``python -m rag.models fetch demo``)."""
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

pytestmark = pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None
                                or importlib.util.find_spec("uvicorn") is None,
                                reason="llama-cpp-python[server] is not installed, so the real-server check did not "
                                       "run (pip install -e '.[served]')")


def test_llama_cpp_server_agrees_with_in_process_on_the_demo_questions(tmp_path):
    from served_throughput import LlamaServer, demo_prompts, probabilities, served_llm

    from common.config import load_config
    from rag.llm import load_llm
    from rag.models import DEMO_LLM, gguf_path, hf_dir

    if not gguf_path(DEMO_LLM).is_file() or not hf_dir(DEMO_LLM).is_dir():
        pytest.skip("the demo model is not in the user cache: python -m rag.models fetch demo")
    cfg = load_config(str(ROOT / "configs/demo.yaml"), [])
    hf = load_llm(cfg.llm, resolve=cfg.resolve_ref)
    _, prompts, n_choices = demo_prompts(cfg, hf.tokenizer, 20)
    local = probabilities(hf, prompts, n_choices)
    with LlamaServer(gguf_path(DEMO_LLM), log=tmp_path / "server.log") as server:
        llm = served_llm(server.url, hf.config.model, 4)
        served = probabilities(llm, prompts, n_choices)
        gen = llm.generate(prompts[:2], 4)
    agree = sum(int(np.argmax(a) == np.argmax(b)) for a, b in zip(served, local))
    diff = max(float(np.max(np.abs(a - b))) for a, b in zip(served, local))
    print(f"agree {agree}/20, largest label-probability difference {diff:.4f}")
    assert agree >= 18
    assert diff < 0.05  # Q4_K_M in llama.cpp vs the same weights dequantised to float32: 0.0121 (docs/served.md)
    assert all(g.text and g.n_tokens >= 1 for g in gen)
