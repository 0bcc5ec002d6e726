"""Retrievers: fusion math, hybrid per-stage scores, batch = single, LangChain adapter, factory."""
import numpy as np
import pytest

from common.config import RetrievalConfig, load_config
from knowledge_base.store import Hit, KnowledgeBase
from retrievers import get_retriever
from retrievers.fusion import convex, normalise, rrf
from retrievers.hybrid import HybridRetriever


def test_rrf_math():
    s = rrf({"bm25": [Hit(1, 9.0), Hit(2, 5.0)], "dense": [Hit(2, 0.9), Hit(3, 0.8)]}, k=60)
    assert s[1] == pytest.approx(1 / 61)
    assert s[2] == pytest.approx(1 / 62 + 1 / 61)
    assert s[3] == pytest.approx(1 / 62)


def test_normalise_and_convex_math():
    np.testing.assert_allclose(normalise(np.array([2.0, 4.0, 6.0]), "minmax"), [0, 0.5, 1])
    np.testing.assert_allclose(normalise(np.array([2.0, 4.0, 6.0]), "zscore"), [-1.2247449, 0, 1.2247449], rtol=1e-6)
    hits = {"bm25": [Hit(1, 10.0), Hit(2, 5.0), Hit(4, 0.0)], "dense": [Hit(2, 0.9), Hit(3, 0.5), Hit(4, 0.1)]}
    s = convex(hits, alpha=0.25, method="minmax")
    # bm25 norm: 1 -> 1, 2 -> .5, 4 -> 0; dense norm: 2 -> 1, 3 -> .5, 4 -> 0; missing -> stage minimum (0)
    assert s[1] == pytest.approx(0.75 * 1.0 + 0.25 * 0.0)
    assert s[2] == pytest.approx(0.75 * 0.5 + 0.25 * 1.0)
    assert s[3] == pytest.approx(0.75 * 0.0 + 0.25 * 0.5)
    assert s[4] == pytest.approx(0.0)
    with pytest.raises(ValueError):
        convex({"bm25": []}, 0.5)


@pytest.fixture(scope="module")
def kb(small_kb):
    return KnowledgeBase.load(small_kb[0])


def test_hybrid_returns_fused_and_stage_scores(kb):
    r = HybridRetriever(kb, fusion="rrf", candidates=20)
    docs = r.retrieve("지미 카터 대통령", k=5)
    assert len(docs) == 5 and len({d.chunk_id for d in docs}) == 5
    assert [d.score for d in docs] == sorted((d.score for d in docs), reverse=True)
    top = docs[0]
    assert set(top.stages) <= {"bm25", "dense"} and top.stages
    expected = sum(1 / (r.rrf_k + s.rank) for s in top.stages.values())
    assert r.rrf_k == RetrievalConfig().rrf_k  # a retriever built by hand takes the documented defaults
    assert top.score == pytest.approx(expected)
    # the dense stage is a random tiny encoder, so only BM25's clear winner is certain to be fused in
    bm25_top = kb.chunks[kb.search_bm25(["지미 카터 대통령"], 1)[0][0].index].chunk_id
    assert bm25_top in {d.chunk_id for d in docs} and kb.chunks[kb.id_to_index[bm25_top]].title == "지미 카터"


def test_batch_equals_single(kb):
    for fusion in ("rrf", "convex"):
        r = HybridRetriever(kb, fusion=fusion, candidates=20)
        qs = ["지미 카터", "수학의 정의", "조선 숙종"]
        batch = r.batch_retrieve(qs, k=4)
        for q, b in zip(qs, batch):
            assert [d.chunk_id for d in r.retrieve(q, k=4)] == [d.chunk_id for d in b]


def test_factory_by_name_and_langchain_adapter(kb, small_kb):
    from retrievers.langchain import LangChainRetriever

    for method in ("bm25", "dense", "hybrid"):
        cfg = load_config(None, [f"retrieval.method={method}"]).retrieval
        r = get_retriever(cfg, kb)
        assert r.name == method and len(r.retrieve("지미 카터", 3)) == 3
    cfg = load_config(None, [f"retrieval.kb={small_kb[0]}"]).retrieval
    lc = LangChainRetriever(retriever=get_retriever(cfg), k=3)
    docs = lc.invoke("지미 카터 대통령")
    assert len(docs) == 3 and "지미 카터" in {d.metadata["title"] for d in docs}
    assert "stages" in docs[0].metadata
    assert all(d.page_content.startswith(d.metadata["title"]) for d in docs)  # title-prefixed chunk text
    with pytest.raises(KeyError, match="unknown retriever"):
        from retrievers.factory import RETRIEVERS

        RETRIEVERS.get("nope")


def test_cross_encoder_reranker(kb, tmp_path):
    """A tiny local CrossEncoder (BERT, one logit) rescoring hybrid candidates; base stages are kept."""
    from sentence_transformers import CrossEncoder
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from retrievers.rerank import RerankingRetriever

    enc_dir = kb.encoder_config.model
    tok = AutoTokenizer.from_pretrained(f"{enc_dir}/_raw")
    model = BertForSequenceClassification(BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=1,
                                                     num_attention_heads=2, intermediate_size=64, num_labels=1))
    model.save_pretrained(tmp_path / "ce")
    tok.save_pretrained(tmp_path / "ce")
    ce = CrossEncoder(str(tmp_path / "ce"), device="cpu")
    base = HybridRetriever(kb, candidates=20)
    r = RerankingRetriever(base, str(tmp_path / "ce"), top_n=8)
    docs = r.retrieve("지미 카터 대통령", k=4)
    cands = base.retrieve("지미 카터 대통령", k=8)
    expected = ce.predict([("지미 카터 대통령", d.text) for d in cands])
    order = sorted(range(8), key=lambda i: -expected[i])[:4]
    assert [d.chunk_id for d in docs] == [cands[i].chunk_id for i in order]
    assert all("rerank" in d.stages and len(d.stages) >= 2 for d in docs)
    assert [d.score for d in docs] == pytest.approx([float(expected[i]) for i in order], abs=1e-5)


# bm25 finds A X P Y, dense Z W Q P (chunk indices of the small store); P is the only chunk both stages find
A, X, P, Y, Z, W, Q = 0, 1, 2, 3, 4, 5, 6
STAGE_HITS = {"bm25": [Hit(A, 10.0), Hit(X, 8.0), Hit(P, 6.0), Hit(Y, 4.0)],
              "dense": [Hit(Z, 0.9), Hit(W, 0.8), Hit(Q, 0.7), Hit(P, 0.6)]}


def _fused(small_kb, *overrides, k=8):
    """The configured hybrid retriever (through the factory, as a run builds it) over STAGE_HITS."""
    cfg = load_config(None, [f"retrieval.kb={small_kb[0]}", "retrieval.method=hybrid", *overrides])
    docs = get_retriever(cfg.retrieval).batch_retrieve(["q"], k=k, stage_hits=[STAGE_HITS])[0]
    kb = KnowledgeBase.load(small_kb[0])
    index = {c.chunk_id: i for i, c in enumerate(kb.chunks)}
    return [(index[d.chunk_id], round(d.score, 4), sorted(d.stages)) for d in docs]


def test_hybrid_keeps_what_only_the_dense_stage_found(small_kb):
    """A chunk only the dense stage found is fused in with its dense rank (hand-computed RRF, k = 60)."""
    got = {i: (s, st) for i, s, st in _fused(small_kb, "retrieval.fusion=rrf", "retrieval.rrf_k=60")}
    assert got[Z] == (round(1 / 61, 4), ["dense"]) and got[A] == (round(1 / 61, 4), ["bm25"])
    assert got[P] == (round(1 / 63 + 1 / 64, 4), ["bm25", "dense"])
    assert set(got) == {A, X, P, Y, Z, W, Q}


@pytest.mark.parametrize("overrides,top", [
    (["retrieval.fusion=rrf", "retrieval.rrf_k=60"], [P, A, Z]),  # two middling ranks beat one first place
    (["retrieval.fusion=rrf", "retrieval.rrf_k=1"], [A, Z, P]),  # 1/2 for a first place beats 1/4 + 1/5
    (["retrieval.fusion=convex", "retrieval.alpha=0.9", "retrieval.norm=minmax"], [Z, W, Q]),
    (["retrieval.fusion=convex", "retrieval.alpha=0.1", "retrieval.norm=minmax"], [A, X, P]),
])
def test_the_configured_fusion_decides_the_ranking(small_kb, overrides, top):
    assert [i for i, _, _ in _fused(small_kb, *overrides)][:3] == top


def test_the_configured_normalisation_decides_the_convex_scores(small_kb):
    """P: bm25 6 of (10, 8, 6, 4), dense 0.6 of (0.9 … 0.6). minmax: 0.5·1/3 + 0.5·0 = 0.1667; zscore:
    0.5·(−1/√5) + 0.5·(−3/√5) = −0.8944."""
    mm = {i: s for i, s, _ in _fused(small_kb, "retrieval.fusion=convex", "retrieval.alpha=0.5", "retrieval.norm=minmax")}
    zs = {i: s for i, s, _ in _fused(small_kb, "retrieval.fusion=convex", "retrieval.alpha=0.5", "retrieval.norm=zscore")}
    assert mm[P] == 0.1667 and zs[P] == -0.8944
