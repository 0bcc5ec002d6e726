"""End-to-end prediction on the tiny model + small KB: files, routing, gating, resume."""
import csv
import json

import pytest

from common.config import load_config
from rag.predict import DETAILS, PREDICTIONS, predict
from router_training.writer import save_router


@pytest.fixture(scope="module")
def run_cfg(tiny_qwen_dir, small_kb, tmp_path_factory, train_rows):
    from router_training.train import train_router

    rdir = tmp_path_factory.mktemp("router")
    save_router(train_router(train_rows), rdir)
    return load_config(None, [f"llm.model={tiny_qwen_dir}", "llm.batch_size=4", f"retrieval.kb={small_kb[0]}",
                              f"router.model={rdir}", "router.uncertain=label", "retrieval.top_k=3",
                              "prompt.max_tokens=768",
                              "retrieval.candidates=20"])


_PARTS: dict = {}


def _pipe(cfg):
    """A pipeline from one assembly shared by this module's tests (the tiny model and the KB load once)."""
    from rag.assembly import Assembly

    return _PARTS.setdefault("parts", Assembly()).pipeline(cfg)


def _files(out):
    return {name: (out / name).read_bytes() for name in (DETAILS, PREDICTIONS)}


def test_predict_writes_files_and_routes(tmp_path, run_cfg, train_rows):
    qs = train_rows[:4] + train_rows[-4:]
    recs = predict(_pipe(run_cfg), qs, tmp_path, checkpoint_every=3, progress=False)
    assert [r.id for r in recs] == [q.id for q in qs]
    with open(tmp_path / PREDICTIONS, encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [r["id"] for r in rows] == [q.id for q in qs] and all(1 <= int(r["answer"]) <= 5 for r in rows)
    for r, q in zip(recs, qs):
        assert abs(sum(r.probs) - 1) < 1e-5 and r.gold == q.answer and r.correct == (r.prediction == q.answer)
        if r.route == "korean":
            assert r.retrieved == [] and r.context_used == 0
        else:
            assert len(r.retrieved) == 3 and r.context_used > 0 and "stages" in r.retrieved[0]
    assert {r.route for r in recs} == {"korean", "social"}
    assert (tmp_path / "config.yaml").exists() and json.loads((tmp_path / "summary.json").read_text())["n"] == 8
    with pytest.raises(FileExistsError):
        predict(_pipe(run_cfg), qs, tmp_path, progress=False)


def test_min_score_gates_context(tmp_path, run_cfg, train_rows):
    cfg = run_cfg.model_copy(deep=True)
    cfg.retrieval.min_score = 1e9
    qs = train_rows[-2:]
    recs = predict(_pipe(cfg), qs, tmp_path, progress=False)
    assert all(r.context_used == 0 and r.context_gated_out == len(r.retrieved) for r in recs)


def test_resume_after_interruption_gives_identical_files(tmp_path, run_cfg, train_rows):
    from rag.assembly import Assembly

    qs = train_rows[:3] + train_rows[-4:]
    pipe = Assembly().pipeline(run_cfg)
    full = tmp_path / "full"
    predict(pipe, qs, full, checkpoint_every=2, progress=False)
    part = tmp_path / "part"
    predict(pipe, qs, part, checkpoint_every=2, progress=False, stop_after=2)
    assert len((part / DETAILS).read_text().splitlines()) == 4 and not (part / PREDICTIONS).exists()
    with open(part / DETAILS, "a") as f:
        f.write('{"id": "torn')  # a kill mid-write
    scored = []  # the questions the resumed run sends through the pipeline: the 3 unfinished, not the 4 done
    run = pipe.run
    pipe.run = lambda batch: scored.extend(q.id for q in batch) or run(batch)
    try:
        predict(pipe, qs, part, checkpoint_every=2, progress=False, resume=True)
    finally:
        pipe.run = run
    assert scored == [q.id for q in qs[4:]]
    assert _files(part) == _files(full)


def test_permutations_average_back_to_original_order(tmp_path, run_cfg, train_rows):
    cfg = run_cfg.model_copy(deep=True)
    cfg.scoring.permutations = 4
    cfg.router.name = "always-korean"
    recs = predict(_pipe(cfg), train_rows[:2], tmp_path, progress=False)
    assert all(abs(sum(r.probs) - 1) < 1e-5 for r in recs)
