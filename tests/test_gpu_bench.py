"""The GPU throughput benchmark's parts that run on a CPU: in-memory NF4 quantization and a smoke run."""
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))


def test_quantize_linears_replaces_decoder_linears_and_keeps_the_head(tiny_qwen_dir):
    pytest.importorskip("bitsandbytes")
    import bitsandbytes as bnb
    from gpu_throughput import quantize_linears
    from transformers import AutoModelForCausalLM

    x = torch.tensor([[5, 17, 42, 99, 7, 300, 12]])
    model = AutoModelForCausalLM.from_pretrained(tiny_qwen_dir).eval()
    n_linear = sum(type(m) is torch.nn.Linear for m in model.model.layers.modules())
    with torch.no_grad():
        ref = model(x).logits[0, -1]
    quantize_linears(model, "4bit", "cpu")
    kinds = [type(m) for m in model.model.layers.modules()]
    assert torch.nn.Linear not in kinds and kinds.count(bnb.nn.Linear4bit) == n_linear == 14
    assert all(not p.requires_grad for m in model.model.layers.modules() if isinstance(m, bnb.nn.Linear4bit)
               for p in m.parameters())
    assert type(model.lm_head) is torch.nn.Linear
    with torch.no_grad():
        out = model(x).logits[0, -1]
    assert not torch.equal(out, ref)  # 4-bit weights differ from the originals ...
    assert torch.corrcoef(torch.stack([out.float(), ref]))[0, 1] > 0.9  # ... but compute nearly the same function


def test_gpu_throughput_cpu_smoke_run(tiny_qwen_dir, data_root):
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks/gpu_throughput.py"), "--shape", "tiny",
                        "--quantization", "none", "--n", "4", "--batch-size", "2", "--repeats", "1",
                        "--new-tokens", "1,3", "--tokenizer", str(tiny_qwen_dir)],
                       check=False, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    last = r.stdout.strip().splitlines()[-1]
    assert last.startswith("RESULT shape=tiny quantization=none qps=")
    fields = dict(kv.split("=") for kv in last.split()[1:])
    assert float(fields["qps"]) > 0 and float(fields["logits_vs_generate_speedup"]) > 0 and fields["new_tokens"] == "3"
    assert "generate (max_new_tokens=3) + parse" in r.stdout


def test_gpu_throughput_refuses_quantization_without_cuda(tiny_qwen_dir):
    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is present")
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks/gpu_throughput.py"), "--shape", "tiny",
                        "--quantization", "4bit", "--tokenizer", str(tiny_qwen_dir)],
                       check=False, capture_output=True, text=True, timeout=300)
    assert r.returncode != 0 and "needs a CUDA GPU" in r.stderr
