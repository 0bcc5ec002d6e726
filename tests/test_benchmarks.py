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


def test_kb_scale_smoke_run_builds_loads_and_searches(tmp_path):
    """``benchmarks/kb_scale.py`` at two tiny sizes: the corpus holds about the asked chunks, each store is built by
    the real command in its own process, opened and searched, and the RESULT line carries every figure."""
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks/kb_scale.py"), "--sizes", "300,700", "--queries", "20",
                        "--work", str(tmp_path)], check=False, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-2000:]
    last = r.stdout.strip().splitlines()[-1]
    fields = dict(kv.split("=") for kv in last.split()[1:])
    assert set(fields) == {"build_peak_gb_700", "bytes_per_chunk", "load_s_700", "load_rss_gb_700",
                           "query_p95_ms_700", "build_s_700", "chunks_700"}
    assert 600 <= int(fields["chunks_700"]) <= 710 and 0 < float(fields["build_peak_gb_700"]) < 4
    assert 0 < float(fields["query_p95_ms_700"]) < 1000 and 0 < float(fields["load_s_700"]) < 30
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus-300.json", "corpus-300.jsonl", "corpus-700.json",
                                                           "corpus-700.jsonl"]  # stores removed after measuring
