"""Every backend implements the LLM interface: the vLLM backend is run against a stand-in engine (vLLM cannot
run here) that answers vLLM's calls — ``generate`` with ``SamplingParams`` (top log-probabilities of the
first token, prompt log-probabilities, greedy text) — from the tiny Qwen model, and must give what the
transformers backend gives on the same model. The real engine is covered by the GPU smoke script."""
import sys
import types
from types import SimpleNamespace

import numpy as np
import pytest
from tiny_models import build_tiny_gptq, build_tiny_qwen

from common.config import LLMConfig, ScoringConfig
from rag.llm import load_llm
from rag.scoring import make_scorer


class _SamplingParams:
    def __init__(self, max_tokens=16, logprobs=None, prompt_logprobs=None, temperature=1.0):
        self.max_tokens, self.logprobs, self.prompt_logprobs = max_tokens, logprobs, prompt_logprobs
        self.temperature = temperature


class _Engine:
    """vLLM's ``LLM`` as far as the backend uses it, computed with transformers."""

    def __init__(self, model, **kw):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.kw = kw
        self.model = AutoModelForCausalLM.from_pretrained(model).eval()
        self.tok = AutoTokenizer.from_pretrained(model)
        self.calls = []

    def get_tokenizer(self):
        return self.tok

    def generate(self, prompts, params, use_tqdm=True, lora_request=None):
        import torch

        self.calls.append(params)
        outs = []
        for p in prompts:
            ids = p["prompt_token_ids"] if isinstance(p, dict) else self.tok(p, add_special_tokens=False)["input_ids"]
            with torch.no_grad():
                logp = self.model(torch.tensor([ids])).logits.log_softmax(-1)[0]
            prompt_lp = None
            if params.prompt_logprobs is not None:
                prompt_lp = [None] + [{ids[k]: SimpleNamespace(logprob=float(logp[k - 1, ids[k]]))}
                                      for k in range(1, len(ids))]
            first = None
            if params.logprobs:
                top = torch.topk(logp[-1], params.logprobs)
                first = [{int(t): SimpleNamespace(logprob=float(v)) for v, t in zip(top.values, top.indices)}]
            with torch.no_grad():
                gen = self.model.generate(torch.tensor([ids]), max_new_tokens=params.max_tokens, do_sample=False,
                                          pad_token_id=self.tok.pad_token_id or self.tok.eos_token_id)
            new = gen[0, len(ids):].tolist()
            outs.append(SimpleNamespace(prompt_logprobs=prompt_lp, outputs=[SimpleNamespace(
                text=self.tok.decode(new, skip_special_tokens=True), token_ids=new, logprobs=first)]))
        return outs


@pytest.fixture(scope="module")
def llm(tiny_qwen_dir):
    return load_llm(LLMConfig(model=str(tiny_qwen_dir), dtype="float32", batch_size=3))


@pytest.fixture
def vllm_llm(tiny_qwen_dir, monkeypatch):
    fake = types.ModuleType("vllm")
    fake.LLM, fake.SamplingParams = _Engine, _SamplingParams
    monkeypatch.setitem(sys.modules, "vllm", fake)
    return load_llm(LLMConfig(backend="vllm", model=str(tiny_qwen_dir)))


def test_vllm_backend_matches_transformers_on_label_logprobs_and_generation(vllm_llm, llm):
    prompts = ["질문: 조선의 수도는?\n정답:", "다음 글을 읽고 답하시오. 가나다라\n정답:"]
    labels = [[str(i) for i in range(1, 6)], [str(i) for i in range(1, 11)]]  # "10" is two tokens
    got = vllm_llm.label_logprobs(prompts, labels)
    want = llm.label_logprobs(prompts, labels)
    for g, w in zip(got, want):
        assert g.shape == w.shape and not np.isnan(g).any()
        np.testing.assert_allclose(g, w, atol=1e-4)
    assert any(c.prompt_logprobs for c in vllm_llm.engine.calls)  # "10" went the exact (prompt log-prob) way
    gen_v = vllm_llm.generate(prompts, 4)
    gen_h = llm.generate(prompts, 4)
    assert [g.text for g in gen_v] == [g.text for g in gen_h]
    assert all(1 <= g.n_tokens <= 4 for g in gen_v)


def test_every_scorer_runs_on_the_vllm_backend(vllm_llm, llm):
    """``llm.backend=vllm`` with ``scoring.method=generate`` used to be a KeyError."""
    prompts, n = ["질문: 무엇인가?\n1 - 가\n2 - 나\n3 - 다\n4 - 라\n정답:"] * 2, [4, 4]
    for method in ("logits", "generate"):
        pv = make_scorer(vllm_llm, ScoringConfig(method=method, max_new_tokens=3)).score(prompts, n)
        ph = make_scorer(llm, ScoringConfig(method=method, max_new_tokens=3)).score(prompts, n)
        for a, b in zip(pv, ph):
            assert a.shape == (4,) and a.sum() == pytest.approx(1.0)
            np.testing.assert_allclose(a, b, atol=1e-4)


# --------------------------------------------------------------------------- pre-quantized checkpoints
def _gptq_copy(tiny_qwen_dir, tmp_path, method="gptq"):
    import json
    import shutil

    d = tmp_path / f"tiny-{method}"
    shutil.copytree(tiny_qwen_dir, d)
    conf = json.loads((d / "config.json").read_text())
    conf["quantization_config"] = {"quant_method": method, "bits": 4, "group_size": 128}
    (d / "config.json").write_text(json.dumps(conf))
    return d


def test_prequantized_checkpoint_loading_decision(tiny_qwen_dir, tmp_path, monkeypatch):
    import importlib.util

    import pytest

    from common.config import LLMConfig
    from rag.llm import load_llm
    from rag.llm.hf import quantization_config, shipped_quantization

    d = _gptq_copy(tiny_qwen_dir, tmp_path)
    cfg = LLMConfig(model=str(d), quantization="auto")
    assert shipped_quantization(cfg) == {"quant_method": "gptq", "bits": 4, "group_size": 128}
    assert shipped_quantization(LLMConfig(model=str(tiny_qwen_dir))) is None
    # bitsandbytes on top of GPTQ is refused, before anything loads
    with pytest.raises(ValueError, match="already quantized \\(gptq, 4-bit\\).*llm.quantization=auto"):
        load_llm(cfg.model_copy(update={"quantization": "4bit"}))
    # missing libraries name the extra (gptqmodel is not installed on the CPU test machine)
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "gptqmodel" else real(name, *a))
    with pytest.raises(ImportError, match=r"GPTQ checkpoint.*pip install -e '\.\[gptq\]'.*gptqmodel"):
        load_llm(cfg)
    with pytest.raises(ImportError, match=r"AWQ checkpoint.*'\.\[awq\]'"):
        load_llm(LLMConfig(model=str(_gptq_copy(tiny_qwen_dir, tmp_path, "awq"))))
    # with the libraries present the checkpoint's own config is used: no bitsandbytes config is built
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object())
    assert quantization_config(cfg, shipped_quantization(cfg)) is None


def test_auto_on_a_full_precision_checkpoint_loads_it_unquantized(tiny_qwen_dir):
    from common.config import LLMConfig
    from rag.llm import load_llm

    llm = load_llm(LLMConfig(model=str(tiny_qwen_dir), quantization="auto"))
    assert not getattr(llm.model, "is_quantized", False)
    p = llm.label_logprobs(["질문: 1+1?\n답:"], [["1", "2"]])
    assert len(p[0]) == 2


def test_a_real_gptq_checkpoint_made_on_cpu_loads_and_scores(tmp_path, data_root):
    """With optimum + gptqmodel importable (docs/performance.md: the CPU recipe), the tiny model is quantized with GPTQ on the
    CPU, saved, and loaded back through the hf backend with quantization=auto: its linear layers are GPTQ
    layers (qweight), logits scoring gives distributions, batched = one by one, and bitsandbytes on top is
    refused. Skipped, and says so, where the libraries are not installed (CI: gptqmodel needs torch >= 2.14.1)."""
    pytest.importorskip("optimum")
    pytest.importorskip("gptqmodel")
    from transformers import AutoTokenizer

    from common.config import LLMConfig, PromptConfig
    from rag.data import load_questions
    from rag.llm import load_llm
    from rag.prompts import PromptBuilder
    from rag.scoring.logits import LogitsScorer

    src = build_tiny_qwen(tmp_path / "tiny", hidden=128)
    qs = load_questions(data_root / "competition/train.csv")[:6]
    prompts = [PromptBuilder(AutoTokenizer.from_pretrained(src), PromptConfig()).build(q).text for q in qs]
    gdir = build_tiny_gptq(src, tmp_path / "tiny-gptq", prompts)
    cfg = LLMConfig(model=str(gdir), dtype="float16", quantization="auto", device_map="cpu", batch_size=3)
    llm = load_llm(cfg)
    assert any(hasattr(m, "qweight") for m in llm.model.modules())
    n = [q.n_choices for q in qs]
    batched = LogitsScorer(llm).score(prompts, n)
    single = LogitsScorer(llm, batch_size=1).score(prompts, n)
    assert all(abs(p.sum() - 1) < 1e-6 for p in batched)
    assert max(float(np.abs(a - b).max()) for a, b in zip(batched, single)) < 2e-2
    with pytest.raises(ValueError, match="already quantized"):
        load_llm(cfg.model_copy(update={"quantization": "4bit"}))
