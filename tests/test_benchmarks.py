"""Smoke runs of the CPU benchmarks with tiny models: they run end to end, and every timed part does its work."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_scoring_bench_smoke_run_times_only_computed_work(tmp_path, tiny_qwen_dir, tiny_encoder_dir):
    """``benchmarks/scoring_bench.py`` counts the prompts each timed part computed and stops when one computed
    fewer than one per question (its logits part once timed the assembly's score cache: 0.00 s, a speed-up of
    1,000,125×); a smoke run on 4 questions passes that check in every part."""
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks/scoring_bench.py"), "--n", "4",
                        "-o", f"llm.model={tiny_qwen_dir}", "-o", f"retrieval.kb={tmp_path / 'kb'}",
                        "-o", "kb.sources=[{name: wiki, path: 'data:kb/kowiki_social_2020.jsonl.gz', limit: 20}]",
                        "-o", "kb.encoder.backend=sentence-transformers", "-o", f"kb.encoder.model={tiny_encoder_dir}",
                        "-o", "kb.encoder.query_prefix=", "-o", "kb.encoder.passage_prefix=",
                        "-o", "scoring.max_new_tokens=3"],
                       check=False, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-2000:]
    last = r.stdout.strip().splitlines()[-1]
    fields = dict(kv.split("=") for kv in last.split()[1:])
    assert last.startswith("RESULT ") and set(fields) == {"overhead_ratio", "logits_vs_generate_speedup", "agreement",
                                                          "pipeline_qps"}
    # generate runs the prompt forward and 3 decode steps: slower than one forward, by a bounded factor
    assert 1.0 < float(fields["logits_vs_generate_speedup"]) < 100
