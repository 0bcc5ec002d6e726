"""Every backend implements the LLM interface: the vLLM backend is run against a stand-in engine (vLLM cannot
run here) that answers vLLM's calls — ``generate`` with ``SamplingParams`` (top log-probabilities of the
first token, prompt log-probabilities, greedy text) — from the tiny Qwen model, and must give what the
transformers backend gives on the same model. The real engine is covered by the GPU smoke script."""
import sys
import types
from types import SimpleNamespace

import numpy as np
import pytest

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
