"""``python -m eval.retrieval``: the KorQuAD-dev retrieval benchmark as a command, on a sample."""
import json
import random

from cli_helpers import run_cli


def test_eval_retrieval_builds_the_store_scores_every_system_and_reuses_it(tmp_path, tiny_encoder_dir, capsys):
    from common.config import RunConfig
    from eval.retrieval import korquad_questions, main, ranked_docs
    from eval.retrieval_metrics import recall_at_k
    from knowledge_base.store import KnowledgeBase

    kb_dir = tmp_path / "kb"
    args = ["--kb", str(kb_dir), "--distractors", "5", "--sample", "40", "--out", str(tmp_path / "m"),
            "-o", f"kb.encoder.model={tiny_encoder_dir}", "-o", "kb.encoder.query_prefix=",
            "-o", "kb.encoder.passage_prefix="]
    code, out = run_cli(main, args, capsys, stream="out")
    assert code == 0, out
    metrics = json.loads((tmp_path / "m/retrieval_metrics.json").read_text())
    systems = metrics["systems"]
    assert set(systems) == {"bm25-kiwi", "bm25-whitespace", "dense", "hybrid-rrf", "hybrid-convex"}
    assert metrics["questions"] == 40 and all(m["n"] == 40 for m in systems.values())
    # the sample and the store are the command's: recomputing bm25-kiwi's recall@5 from them gives its figure
    kb = KnowledgeBase.load(kb_dir)
    qs = random.Random(13).sample(korquad_questions(RunConfig()), 40)
    ranked = [ranked_docs(kb, h) for h in kb.search_bm25([q for _, q, _ in qs], 100)]
    assert recall_at_k(ranked, [f"korquad:{g}" for _, _, g in qs], 5) == systems["bm25-kiwi"]["recall@5"]
    # Korean morphology beats whitespace splitting on the same chunks (the reason bm25 uses kiwi)
    assert systems["bm25-kiwi"]["recall@5"] > systems["bm25-whitespace"]["recall@5"]
    assert f"recall5_bm25={systems['bm25-kiwi']['recall@5']:.4f}" in out.splitlines()[-1]
    stamp = (kb_dir / "manifest.json").stat().st_mtime_ns
    code, _ = run_cli(main, args, capsys, stream="out")
    assert code == 0 and (kb_dir / "manifest.json").stat().st_mtime_ns == stamp  # the built store is reused
