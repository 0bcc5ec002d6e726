"""Knowledge base: build stages, manifest refusal, resumable and reusing dense stage, stale stages, search."""
import json
import warnings

import numpy as np
import pytest

from common.config import load_config
from knowledge_base.build import build
from knowledge_base.chunk_store import CHUNK_FILES
from knowledge_base.embeddings import PROGRESS_FILE
from knowledge_base.manifest import KBError
from knowledge_base.store import KnowledgeBase


def test_build_writes_manifest_and_loads(small_kb):
    out, _ = small_kb
    man = json.loads((out / "manifest.json").read_text())
    assert {"chunks.jsonl", "dense.faiss", "embeddings.npy"} <= set(man["files"])
    assert any(f.startswith("bm25/") for f in man["files"])
    assert man["counts"]["documents"] == 70 and man["sources"][0]["sha256"]
    assert man["bm25"]["tokenizer"]["name"] == "kiwi" and man["dense"]["dim"] == 32
    assert {"bm25s", "faiss-cpu", "kiwipiepy"} <= set(man["versions"])
    assert (out / "config.yaml").exists()
    kb = KnowledgeBase.load(out)
    hits = kb.search_bm25(["지미 카터 대통령"], 5)[0]
    assert kb.chunks[hits[0].index].title == "지미 카터"
    dense = kb.search_dense(["지미 카터 대통령"], 5)[0]
    assert len(dense) == 5 and dense[0].score >= dense[-1].score
    assert kb.bm25_config.oov_handling == "rule" and kb.tokenizer.oov_handling == "rule"


def test_index_from_before_oov_handling_is_queried_as_built(tmp_path, small_kb):
    """A manifest written before ``oov_handling`` existed: its index was analysed with Kiwi's own default, so
    queries must be too (the new default would split words the index holds whole)."""
    import shutil

    old = tmp_path / "old"
    shutil.copytree(small_kb[0], old)
    man = json.loads((old / "manifest.json").read_text())
    del man["bm25"]["config"]["oov_handling"]
    (old / "manifest.json").write_text(json.dumps(man))
    with pytest.raises(KBError, match="changed after it was written"):
        KnowledgeBase.load(old, verify=False)
    from knowledge_base.manifest import restamp

    restamp(old)  # the user vouches for the edited manifest
    kb = KnowledgeBase.load(old, verify=False)
    assert kb.bm25_config.oov_handling == "none" and kb.tokenizer.oov_handling is None


def test_bm25_rebuild_is_byte_identical_whatever_the_hash_seed(tmp_path, small_kb):
    """The bm25 stage run again on the same chunks, in processes with other hash seeds (bm25s's own vocabulary
    follows set order), writes the same bytes."""
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    kb, _ = small_kb
    digests = []
    for seed in ("1", "2"):
        out = tmp_path / seed
        out.mkdir()
        shutil.copy(kb / "chunks.jsonl", out / "chunks.jsonl")
        code = ("import sys, bm25s; from common.config import BM25Config; from knowledge_base.build import "
                "bm25_index; from knowledge_base.store import read_chunks; "
                "idx = bm25_index([c.text for c in read_chunks(sys.argv[1] + '/chunks.jsonl')], BM25Config(), "
                "False)[0]; idx.save(sys.argv[1] + '/bm25', allow_pickle=False, show_progress=False)")
        subprocess.run([sys.executable, "-c", code, str(out)], check=True, cwd=Path(__file__).resolve().parent.parent,
                       env={**os.environ, "PYTHONHASHSEED": seed})
        digests.append({p.name: p.read_bytes() for p in sorted((out / "bm25").iterdir())})
    assert digests[0].keys() == digests[1].keys() and len(digests[0]) >= 4
    assert digests[0] == digests[1]


def test_bm25_warns_on_query_without_terms(small_kb):
    kb = KnowledgeBase.load(small_kb[0], verify=False)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        assert kb.search_bm25(["?!", "... !!"], 5) == [[], []]
    assert any("no index terms" in str(x.message) for x in w)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        assert kb.search_bm25(["qwertyzzz"], 5) == [[]]
    assert any("no index terms" in str(x.message) for x in w)


def test_manifest_refuses_tampered_or_missing_file(tmp_path, small_kb):
    import shutil

    src, _ = small_kb
    kb_dir = tmp_path / "kb"
    shutil.copytree(src, kb_dir)
    p = kb_dir / "chunks.jsonl"
    data = bytearray(p.read_bytes())
    data[100] = ord("X") if data[100] != ord("X") else ord("Y")
    p.write_bytes(bytes(data))
    with pytest.raises(KBError, match=r"chunks\.jsonl does not match its sha256"):
        KnowledgeBase.load(kb_dir, verify="full")
    # a quick load opens it, and refuses the changed block when a record in it is read
    kb = KnowledgeBase.load(kb_dir)
    assert kb.chunks[len(kb) - 1].text
    with pytest.raises(KBError, match=r"chunks\.jsonl: bytes 0–65536 changed since the store was built"):
        kb.chunks[0]
    with pytest.raises(KBError, match="changed since"):
        list(KnowledgeBase.load(kb_dir).chunks)
    (kb_dir / "dense.faiss").unlink()
    with pytest.raises(KBError, match=r"dense\.faiss is missing"):
        KnowledgeBase.load(kb_dir, verify=False)
    with pytest.raises(KBError, match="manifest.json is missing"):
        KnowledgeBase.load(tmp_path)


def test_dense_stage_resumes_after_interruption(tmp_path, small_kb):
    import shutil

    from knowledge_base.build import stage_dense
    from knowledge_base.manifest import read_manifest

    src, cfg = small_kb
    kb_dir = tmp_path / "kb"
    kb_dir.mkdir()
    for name in (*CHUNK_FILES, "manifest.json", "config.yaml"):
        shutil.copy(src / name, kb_dir / name)
    man = read_manifest(kb_dir)
    man.pop("dense")
    with pytest.raises(KBError, match="interrupted"):
        stage_dense(cfg, kb_dir, man, progress=False, stop_after_shards=1)
    prog = json.loads((kb_dir / PROGRESS_FILE).read_text())
    assert prog["done"] == [0] and prog["n"] > 64
    calls = []
    import knowledge_base.encoders as enc_mod

    orig = enc_mod.SentenceTransformerEncoder.encode_passages

    def counting(self, texts):
        calls.append(len(texts))
        return orig(self, texts)

    enc_mod.SentenceTransformerEncoder.encode_passages = counting
    try:
        stage_dense(cfg, kb_dir, man, progress=False)
    finally:
        enc_mod.SentenceTransformerEncoder.encode_passages = orig
    assert sum(calls) == prog["n"] - 64  # the first shard was not embedded again
    a = np.load(kb_dir / "embeddings.npy")
    b = np.load(src / "embeddings.npy")
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_dense_reuses_embeddings_of_unchanged_chunks(tmp_path, small_kb):
    """A rebuild with other sources copies the vectors of chunks whose text is unchanged and embeds the rest;
    the result equals a full embedding, and a store embedded by another encoder is refused."""
    import knowledge_base.encoders as enc_mod
    from knowledge_base.build import build

    src, cfg = small_kb
    cfg2 = cfg.model_copy(deep=True)
    cfg2.kb.sources[0].limit = 44  # 4 more wiki articles
    cfg2.kb.dense.reuse_from = str(src)
    calls = []
    orig = enc_mod.SentenceTransformerEncoder.encode_passages

    def counting(self, texts):
        calls.extend(texts)
        return orig(self, texts)

    enc_mod.SentenceTransformerEncoder.encode_passages = counting
    try:
        man = build(cfg2, tmp_path / "kb2", progress=False)
    finally:
        enc_mod.SentenceTransformerEncoder.encode_passages = orig
    old = {c.text for c in KnowledgeBase.load(src, verify=False).chunks}
    new = KnowledgeBase.load(tmp_path / "kb2")
    assert calls and not (set(calls) & old)  # only the new articles' chunks were encoded
    assert man["dense"]["reused"]["vectors"] == len(new) - len(calls) > 0
    fresh = orig(new.encoder, [c.text for c in new.chunks])
    np.testing.assert_allclose(np.load(tmp_path / "kb2" / "embeddings.npy"), fresh, atol=1e-5)
    cfg3 = cfg2.model_copy(deep=True)
    cfg3.kb.encoder.passage_prefix = "passage: "
    with pytest.raises(KBError, match="vectors of different encoders cannot be mixed"):
        build(cfg3, tmp_path / "kb3", progress=False)


def test_rerunning_the_chunk_stage_in_place_keeps_the_vectors_of_unchanged_chunks(tmp_path, small_kb):
    """Re-chunking a store in place (here with 4 more articles; chunk and bm25 first, dense in a later run)
    embeds only the new chunks; the old vectors wait in previous-embeddings/ until the dense stage, which
    removes that folder. Another encoder gets no old vectors."""
    import shutil

    import knowledge_base.encoders as enc_mod
    from knowledge_base.build import PREVIOUS_DIR, build

    src, cfg = small_kb
    kb = tmp_path / "kb"
    shutil.copytree(src, kb)
    n_old = len(KnowledgeBase.load(kb, verify=False))
    bad = cfg.model_copy(deep=True)
    bad.kb.sources[0].path = str(tmp_path / "missing.jsonl")
    with pytest.raises(KBError, match="not found"):
        build(bad, kb, ["chunk"], progress=False)
    assert not (kb / PREVIOUS_DIR).exists()
    KnowledgeBase.load(kb)  # a failed chunk stage leaves the store whole, vectors included
    cfg2 = cfg.model_copy(deep=True)
    cfg2.kb.sources[0].limit = 44
    build(cfg2, kb, ["chunk", "bm25"], progress=False)
    assert (kb / PREVIOUS_DIR / "embeddings.npy").exists() and not (kb / "embeddings.npy").exists()
    calls = []
    orig = enc_mod.SentenceTransformerEncoder.encode_passages
    enc_mod.SentenceTransformerEncoder.encode_passages = lambda self, texts: (calls.extend(texts),
                                                                             orig(self, texts))[1]
    try:
        man = build(cfg2, kb, ["dense"], progress=False)
    finally:
        enc_mod.SentenceTransformerEncoder.encode_passages = orig
    new = KnowledgeBase.load(kb)
    assert not (kb / PREVIOUS_DIR).exists()
    assert 0 < len(calls) < len(new) and man["dense"]["reused"]["vectors"] == len(new) - len(calls) >= n_old - 2
    np.testing.assert_allclose(np.load(kb / "embeddings.npy"), orig(new.encoder, [c.text for c in new.chunks]),
                               atol=1e-5)
    cfg3 = cfg2.model_copy(deep=True)
    cfg3.kb.sources[0].limit = 40
    cfg3.kb.encoder.passage_prefix = "passage: "
    man = build(cfg3, kb, ["chunk", "dense"], progress=False)
    assert "reused" not in man["dense"] and not (kb / PREVIOUS_DIR).exists()


def test_build_stage_order_errors(tmp_path):
    cfg = load_config(None)
    with pytest.raises(KBError, match="run the 'chunk' stage first"):
        build(cfg, tmp_path / "x", ["bm25"], progress=False)
    with pytest.raises(KBError, match="kb.sources is empty"):
        build(cfg, tmp_path / "y", ["chunk"], progress=False)


def test_stale_stages_name_what_to_rebuild(small_kb):
    from knowledge_base.build import stale_stages
    from knowledge_base.manifest import read_manifest

    src, cfg = small_kb
    man = read_manifest(src)
    assert stale_stages(man, cfg) == set() and stale_stages({}, cfg) == set()
    other = cfg.model_copy(deep=True)
    other.kb.bm25.k1 = 0.9
    assert stale_stages(man, other) == {"bm25"}
    old = json.loads(json.dumps(man))
    del old["bm25"]["tokenizer"]["analysis"]  # an index built before per-word analysis
    assert stale_stages(old, cfg) == {"bm25"}
    other = cfg.model_copy(deep=True)
    other.kb.bm25.oov_handling = "none"
    assert stale_stages(man, other) == {"bm25"}
    old = json.loads(json.dumps(man))
    del old["bm25"]["config"]["oov_handling"]  # an index built before the setting existed
    assert stale_stages(old, cfg) == {"bm25"}
    other = cfg.model_copy(deep=True)
    other.kb.bm25.num_workers = 7  # threads do not change the index
    assert stale_stages(man, other) == set()
    other = cfg.model_copy(deep=True)
    other.kb.chunking.size = 500
    assert stale_stages(man, other) == {"chunk", "bm25", "dense"}
    other = cfg.model_copy(deep=True)
    other.kb.sources[0].limit = 41
    assert stale_stages(man, other) == {"chunk", "bm25", "dense"}


@pytest.mark.parametrize("index", ["hnsw", "ivf"])
def test_user_jsonl_and_csv_sources_with_hnsw_and_ivf_indexes(tmp_path, tiny_encoder_dir, index):
    """User sources (jsonl with its own field names, csv) build a store whose approximate FAISS index (hnsw, ivf)
    finds a chunk by its own text as the exact flat index does."""
    import csv as csvmod
    import json as jsonmod

    from common.config import load_config
    from knowledge_base.build import build

    rows = [{"doc": f"문서 {i}", "body": f"{w}에 관한 설명 문단 {i}. {w}는 중요한 개념이다.", "name": w}
            for i, w in enumerate(["헌법", "민법", "형법", "세금", "환율", "물가", "금리", "무역", "인구", "도시"] * 5)]
    with open(tmp_path / "mine.jsonl", "w", encoding="utf-8") as f:
        f.writelines(jsonmod.dumps(r, ensure_ascii=False) + "\n" for r in rows[:25])
    with open(tmp_path / "mine.csv", "w", encoding="utf-8", newline="") as f:
        w = csvmod.DictWriter(f, fieldnames=["doc", "body", "name"])
        w.writeheader()
        w.writerows(rows[25:])
    opts = "{text_field: body, title_field: name, id_field: doc}"
    sources = (f"[{{name: jsonl, path: {tmp_path / 'mine.jsonl'}, options: {opts}}}, "
               f"{{name: csv, path: {tmp_path / 'mine.csv'}, options: {opts}}}]")
    stores = {}
    for kind in ("flat", index):
        cfg = load_config(None, [f"kb.sources={sources}", f"kb.encoder.model={tiny_encoder_dir}",
                                 "kb.encoder.query_prefix=", "kb.encoder.passage_prefix=", f"kb.dense.index={kind}",
                                 "kb.chunking.near_dup_threshold=null", "kb.chunking.dedup=false"])
        build(cfg, tmp_path / kind, progress=False)
        stores[kind] = KnowledgeBase.load(tmp_path / kind)
    kb = stores[index]
    assert len(kb) == 50 and type(kb.faiss_index).__name__ == {"hnsw": "IndexHNSWFlat", "ivf": "IndexIVFFlat"}[index]
    assert {c.source for c in kb.chunks} == {"user"} and {c.doc_id for c in kb.chunks} >= {"문서 0", "문서 49"}
    assert kb.chunks[0].title == "헌법"
    target = kb.chunks[7]
    for store in stores.values():
        hits = store.search_dense([target.text], 3)[0]
        assert store.chunks[hits[0].index].chunk_id == target.chunk_id
