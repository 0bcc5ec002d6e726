"""Per-choice evidence on the small real KB: option-aware retrieval in one batch, the retrieval-only answerer
(probabilities, polarity), the evidence gate and fusion in the pipeline, and the coverage report."""
import json

import numpy as np
import pytest

from common.config import load_config
from rag.data import Question


@pytest.fixture(scope="module")
def kb(small_kb):
    from knowledge_base.store import KnowledgeBase

    return KnowledgeBase.load(small_kb[0])


@pytest.fixture(scope="module")
def retriever(kb):
    from common.config import RetrievalConfig
    from retrievers import get_retriever

    return get_retriever(RetrievalConfig(method="bm25", top_k=3), kb)


def _questions(kb):
    """A choice made of one chunk's sentence against choices no chunk holds; the same question negated."""
    chunk = next(c for c in kb.chunks if c.source == "wiki" and len(c.text) > 200)
    fact = chunk.text.split("\n", 1)[-1][:90]
    wrong = ["초전도 자석 냉각 헬륨 순환 장치 설계", "고래 회유 경로 해수 온도 염분 관측", "반도체 식각 공정 플라스마 균일도 제어"]
    pos = Question(id="pos", question="다음 중 옳은 것은?", choices=[wrong[0], fact, wrong[1], wrong[2]], answer=2)
    neg = Question(id="neg", question="다음 중 옳지 않은 것은?", choices=[wrong[0], fact, wrong[1], wrong[2]], answer=1)
    return pos, neg, chunk


def test_per_choice_retrieval_is_one_batch_and_polarity_flips(kb, retriever, monkeypatch):
    from rag.evidence import EvidenceAnswerer, choice_queries, is_negated

    pos, neg, _chunk = _questions(kb)
    calls = []
    orig = retriever.batch_retrieve
    monkeypatch.setattr(retriever, "batch_retrieve", lambda qs, k=5: (calls.append(len(qs)), orig(qs, k))[1])
    ans = EvidenceAnswerer(retriever, top_k=3)
    docs = ans.retrieve([pos, neg])
    assert calls == [8]  # every choice of both questions, one call
    assert [len(d) for d in docs] == [4, 4] and choice_queries(pos)[1].endswith(pos.choices[1])
    res = ans.score([pos, neg], docs)
    for r in res:
        assert r.probs.shape == (4,) and r.probs.sum() == pytest.approx(1.0)
    assert not is_negated(pos) and is_negated(neg)
    assert int(np.argmax(res[0].probs)) == 1 and res[0].support[1] > 0.5  # the chunk's own sentence
    assert int(np.argmin(res[1].probs)) == 1  # negated: the supported choice is the least likely answer
    assert res[0].margin > 0.5


def test_evidence_gate_fusion_and_grouped_prompt_in_the_pipeline(small_kb, tiny_qwen_dir, kb):
    from rag.assembly import Assembly
    from rag.pipeline import interleave_choices

    pos, neg, _ = _questions(kb)
    base = [f"llm.model={tiny_qwen_dir}", f"retrieval.kb={small_kb[0]}", "retrieval.method=bm25",
            "router.name=always-social", "retrieval.top_k=2", "prompt.max_tokens=1024", "prompt.max_context_chunks=8"]
    parts = Assembly()
    pipe = parts.pipeline(load_config(None, base + ["retrieval.query=per_choice"]))
    rec = pipe.run([pos])[0]
    assert rec.retrieved and {d["choice"] for d in rec.retrieved} <= {1, 2, 3, 4}
    text = pipe.prompts([pos], [interleave_choices(pipe.per_choice([pos], [0])[0])])[0][0][1].text
    assert "(2번 선택지 관련)" in text and text.index("(1번 선택지 관련)") < text.index("(2번 선택지 관련)")
    # the evidence gate keeps context when the evidence separates the choices, drops it when it asks for more
    keep = parts.pipeline(load_config(None, base + ["retrieval.gate=evidence", "retrieval.evidence_margin=0.1"]))
    drop = parts.pipeline(load_config(None, base + ["retrieval.gate=evidence", "retrieval.evidence_margin=1.0"]))
    assert keep.run([pos])[0].context_used > 0
    r = drop.run([pos])[0]
    assert r.context_used == 0 and r.context_gated_out == len(r.retrieved) > 0
    # fusion: a large evidence weight lets the evidence decide
    fused = parts.pipeline(load_config(None, base + ["scoring.evidence_weight=50"])).run([pos, neg])
    assert fused[0].prediction == 2 and fused[1].prediction != 2


def test_evidence_scoring_needs_no_llm_and_the_coverage_report(small_kb, kb, tmp_path, capsys):
    from eval.evidence import main as evidence
    from rag.assembly import Assembly
    from rag.data import write_jsonl

    pos, neg, _ = _questions(kb)
    cfg = load_config(None, [f"llm.model={tmp_path / 'no-such-model'}", f"retrieval.kb={small_kb[0]}",
                             "retrieval.method=bm25", "scoring.method=evidence", "router.name=always-korean"])
    pipe = Assembly().pipeline(cfg)  # would fail loading the model if it tried
    assert pipe.llm is None
    recs = pipe.run([pos, neg])
    assert next(r.prediction for r in recs) == 2 and recs[1].prediction != 2
    assert all(abs(sum(r.probs) - 1) < 1e-5 for r in recs) and all(r.retrieved for r in recs)
    data = write_jsonl([pos, neg], tmp_path / "two.jsonl")
    out = tmp_path / "ev"
    assert evidence(["--kb", str(small_kb[0]), "--data", str(data), "--out", str(out), "--method", "bm25",
                     "--top-k", "3"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("RESULT accuracy=") and last.endswith("n=2")
    details = [json.loads(x) for x in (out / "details.jsonl").read_text().splitlines()]
    assert details[0]["prediction"] == 2 and details[1]["prediction"] != 2  # polarity flipped for "옳지 않은"
    assert {d["choice"] for d in details[0]["retrieved"]} >= {2}
    m = json.loads((out / "metrics.json").read_text())
    assert m["n"] == 2 and [c["share"] for c in m["coverage"]][-1] == 100
    report = (out / "report.md").read_text()
    assert "Most misleading evidence" in report and "support" in report
    assert (out / "coverage.png").read_bytes()[:4] == b"\x89PNG"


def test_eval_run_reports_the_retrieval_only_baseline(small_kb, tiny_qwen_dir, kb, tmp_path, capsys, monkeypatch):
    """The baseline row is the retrieval-only answerer on the run's own knowledge base (loaded once), retriever and
    retrieval cache: with per-choice queries the run already asked, it retrieves nothing more."""
    from common.config import RetrievalConfig
    from eval.run import main as run
    from knowledge_base.store import KnowledgeBase
    from rag.data import write_jsonl
    from rag.evidence import EvidenceAnswerer
    from retrievers import get_retriever
    from retrievers.base import SingleStageRetriever

    pos, neg, _ = _questions(kb)
    data = write_jsonl([pos, neg], tmp_path / "two.jsonl")
    ans = EvidenceAnswerer(get_retriever(RetrievalConfig(method="bm25"), kb), top_k=5)
    expected = [int(np.argmax(r.probs)) + 1 for r in ans.score([pos, neg], ans.retrieve([pos, neg]))]
    loads, asked = [], []
    load, retrieve = KnowledgeBase.load.__func__, SingleStageRetriever.batch_retrieve
    monkeypatch.setattr(KnowledgeBase, "load", classmethod(lambda cls, *a, **k: loads.append(a) or load(cls, *a, **k)))
    monkeypatch.setattr(SingleStageRetriever, "batch_retrieve",
                        lambda self, qs, k=5: asked.append(len(qs)) or retrieve(self, qs, k))
    assert run(["--data", str(data), "--out", str(tmp_path / "ev"), "-o", f"llm.model={tiny_qwen_dir}",
                "-o", f"retrieval.kb={small_kb[0]}", "-o", "retrieval.method=bm25", "-o", "retrieval.query=per_choice",
                "-o", "router.name=always-social", "-o", "prompt.max_tokens=768"]) == 0
    capsys.readouterr()
    assert len(loads) == 1 and asked == [8]  # the 8 choices, asked once, by the run; the baseline used the cache
    m = json.loads((tmp_path / "ev/metrics.json").read_text())
    b = m["baselines"]["retrieval-only (no LLM)"]
    assert expected[0] == 2 and b["n"] == 2
    assert b["accuracy"] == pytest.approx(sum(p == q.answer for p, q in zip(expected, [pos, neg])) / 2)
    assert "Baselines on the same questions: chance" in (tmp_path / "ev/report.md").read_text()
    assert "retrieval-only (no LLM)" in (tmp_path / "ev/report.md").read_text()


def test_demo_trace_shows_the_evidence_for_each_choice(kb, retriever):
    from rag.demo import evidence_lines

    pos, _, _ = _questions(kb)
    lines = evidence_lines(pos, retriever, 3)
    assert lines[0].startswith("evidence per choice") and len(lines) == 2 + pos.n_choices
    assert "2. support" in lines[2] and "retrieval-only answer 2" in lines[-1]


def test_exam_bank_source_and_the_leakage_guard(tmp_path, data_root, capsys):
    """An exam bank of KMMLU Law dev questions: documents carry the answer; a question of the bank is refused
    when evaluated against it; ``exclude`` leaves out the questions of the files named."""
    from common.config import RetrievalConfig
    from knowledge_base.build import build
    from knowledge_base.store import KnowledgeBase
    from rag.data import load_questions
    from rag.evidence import LeakageError, refuse_leakage
    from retrievers import get_retriever

    dev = data_root / "exams/kmmlu/Law-dev.csv"
    qs = load_questions(dev, format="kmmlu")
    out = tmp_path / "bank"
    build(load_config(None, [f"kb.sources=[{{name: exam_bank, path: '{dev}'}}]"]), out, ["chunk", "bm25"],
          progress=False)
    kb = KnowledgeBase.load(out)
    doc = next(c for c in kb.chunks if c.metadata["question_id"] == qs[0].id)
    assert qs[0].choices[qs[0].answer - 1] in doc.text
    with pytest.raises(LeakageError, match=qs[0].id):
        refuse_leakage(kb, qs[:3])
    # the same question under another id is caught by its text
    with pytest.raises(LeakageError):
        refuse_leakage(kb, [qs[1].model_copy(update={"id": "elsewhere/1", "question": qs[1].question + " "})])
    test_qs = load_questions(data_root / "exams/kmmlu/Law-test.csv", format="kmmlu")[:5]
    refuse_leakage(kb, test_qs)  # not in the bank
    # eval.evidence refuses a leaking evaluation set
    from eval.evidence import main as evidence
    from rag.data import write_jsonl

    with pytest.raises(SystemExit):
        evidence(["--kb", str(out), "--data", str(write_jsonl(qs[:2], tmp_path / "d.jsonl")),
                  "--out", str(tmp_path / "ev"), "--method", "bm25"])
    assert "exam bank" in capsys.readouterr().err
    # exclude: the dev file's questions are left out of a bank built from the same file
    from knowledge_base.manifest import KBError

    with pytest.raises(KBError, match="no chunks"):
        build(load_config(None, [f"kb.sources=[{{name: exam_bank, path: '{dev}', options: {{exclude: ['{dev}']}}}}]"]),
              tmp_path / "bank2", ["chunk"], progress=False)
    assert get_retriever(RetrievalConfig(method="bm25"), kb).retrieve(qs[0].question, 1)


@pytest.mark.parametrize("stem,negated", [
    ("다음 중 옳지 않은 것은?", True), ("옳지않은 것은?", True), ("설명으로 틀린 것은?", True),
    ("조선의 왕이 아닌 것은?", True), ("해당하지 않는 것은?", True), ("적절하지 않은 것은?", True),
    ("거리가 먼 것은?", True), ("잘못된 설명은?", True), ("내용과 일치하지 않는 것은?", True),
    ("관련이 없는 것은?", True), ("옳은 것은?", False), ("가장 적절한 것은?", False), ("일치하는 것은?", False),
    ("다음 중 아닌가?", False)])
def test_every_negated_wording_is_read_as_negated(stem, negated):
    """Each wording of a negated 수능 stem reverses which choice the evidence answerer picks; the plain ones do not."""
    from rag.data import Question
    from rag.evidence import is_negated

    assert is_negated(Question(id="x", question=stem, choices=["a", "b"])) is negated


def test_retrieve_asks_with_the_passage_head_and_top_k(kb, retriever, monkeypatch):
    """Each choice's query carries the first ``passage_chars`` of the passage, and ``top_k`` chunks come back
    for each choice."""
    from rag.evidence import EvidenceAnswerer, choice_queries

    q = Question(id="p", question="다음 중 옳은 것은?", paragraph="고려 시대의 토지 제도인 전시과는 관리에게 토지를 나누어 주었다.",
                 choices=["전시과", "과전법", "균전제", "정전제"], answer=1)
    seen = []
    batch = retriever.batch_retrieve
    monkeypatch.setattr(retriever, "batch_retrieve", lambda qs, k=None: seen.append((list(qs), k)) or batch(qs, k))
    docs = EvidenceAnswerer(retriever, top_k=2, passage_chars=7).retrieve([q])
    assert seen == [(choice_queries(q, 7), 2)]
    assert seen[0][0][0] == "다음 중 옳은 것은? 고려 시대의 전시과"  # the first 7 characters, stripped
    assert [len(d) for d in docs[0]] == [2, 2, 2, 2]
    # several questions in one batch: each gets its own choices' chunks back (4, 2 and 4 choices)
    two = q.model_copy(update={"id": "t", "choices": ["고려", "조선"]})
    many = EvidenceAnswerer(retriever, top_k=2, passage_chars=7).retrieve([q, two, q])
    alone = [EvidenceAnswerer(retriever, top_k=2, passage_chars=7).retrieve([x])[0] for x in (q, two, q)]
    assert [[[d.chunk_id for d in c] for c in per_q] for per_q in many] == \
        [[[d.chunk_id for d in c] for c in per_q] for per_q in alone]


def test_idf_is_the_share_of_chunks_holding_the_term(kb, retriever):
    """With ``idf`` on, a term's weight is BM25's idf over the chunks that hold it (counted here chunk by chunk)."""
    import math

    from rag.evidence import EvidenceAnswerer

    ans = EvidenceAnswerer(retriever, idf=True)
    chunks = list(kb.chunks)
    terms = [set(t) for t in kb.tokenizer.tokenize_batch([c.text for c in chunks])]
    for term in ("고려", "조선", "경제"):
        df = sum(term in t for t in terms)
        assert df > 0, term
        assert ans._idf(term) == pytest.approx(math.log(1 + (len(chunks) - df + 0.5) / (df + 0.5)))
    assert ans._idf("없는말없는말") == pytest.approx(math.log(1 + (len(chunks) + 0.5) / 0.5))
    assert EvidenceAnswerer(retriever, idf=False)._idf("고려") == 1.0


class _SplitTokenizer:
    """Whitespace terms, so that every share below is countable by hand."""

    def tokenize_batch(self, texts):
        return [t.split() for t in texts]


def _hand_answerer(**kw):
    from types import SimpleNamespace

    from rag.evidence import EvidenceAnswerer

    # idf: 감 in 1 of 10 chunks, 귤 in 2, 딸기 in 3 (a bm25s CSC column pointer per term), other terms in none
    bm25 = SimpleNamespace(vocab_dict={"감": 0, "귤": 1, "딸기": 2}, scores={"indptr": np.array([0, 1, 3, 6])})
    kb = type("KB", (), {"tokenizer": _SplitTokenizer(), "bm25": bm25, "__len__": lambda self: 10})()
    return EvidenceAnswerer(SimpleNamespace(kb=kb), **kw)


def _doc(cid, text, score):
    from retrievers.base import RetrievedDoc

    return RetrievedDoc(chunk_id=cid, doc_id=cid, title="", text=text, score=score)


def _hand_case():
    q1 = Question(id="q1", question="다음 중 옳은 것은?", paragraph="가 나 다", question_plus="보기 라",
                  choices=["가 사과 배", "사과 포도", "사과 감 귤 딸기", "사과 라"], answer=1)
    q2 = Question(id="q2", question="옳지 않은 것은?", choices=["하늘 파랑", "하늘 초록"], answer=2)
    q3 = Question(id="q3", question="무엇인가?", choices=["별 달", "해 구름"], answer=2)
    docs = [[[_doc("d1", "배 사과", 3.0), _doc("d2", "바나나", 1.0)], [_doc("d3", "바나나", 2.0)],
             [_doc("d5", "감 귤", 2.5), _doc("d6", "딸기", 0.5)], []],
            [[_doc("d7", "파랑", 1.0)], [_doc("d8", "노랑", 1.0)]],
            [[_doc("d9", "별", 1.0)], [_doc("d10", "해 구름", 1.0)]]]
    return [q1, q2, q3], docs


def _softmax(x):
    e = np.exp(x - x.max())
    return e / e.sum()


def _z(x):
    x = np.asarray(x, float)
    return (x - x.mean()) / x.std() if x.std() > 0 else np.zeros_like(x)


def test_support_own_terms_and_probabilities_computed_by_hand():
    """A choice's own terms leave out the question, passage head and <보기> (가, 라) and what every choice shares
    (사과); a choice left with none keeps all its terms (사과 라); support is the best single chunk's share of
    them (감 귤 of 감 귤 딸기: 2/3), 0 with no chunk holding any (best None) or no chunk at all (top score 0);
    probabilities are a softmax of the standardised signals over the temperature, reversed for a negated stem."""
    qs, docs = _hand_case()
    r1, r2, r3 = _hand_answerer(temperature=0.1).score(qs, docs)
    assert r1.own_terms == [["배"], ["포도"], ["감", "귤", "딸기"], ["라", "사과"]]
    assert r1.support == pytest.approx([1.0, 0.0, 2 / 3, 0.0]) and r1.best == [0, None, 0, None]
    assert not r1.negated
    np.testing.assert_allclose(r1.probs, _softmax(0.1 * (_z([1, 0, 2 / 3, 0]) + _z([3.0, 2.0, 2.5, 0.0])) / 0.1))
    assert r2.own_terms == [["파랑"], ["초록"]] and r2.negated and r2.support == [1.0, 0.0]
    np.testing.assert_allclose(r2.probs, _softmax(-np.array([1.0, -1.0])))  # top scores equal: z = 0
    assert r3.own_terms == [["달", "별"], ["구름", "해"]] and r3.support == [0.5, 1.0] and r3.best == [0, 0]
    cov = _hand_answerer(temperature=0.5, signal="coverage").score(qs, docs)[0]
    np.testing.assert_allclose(cov.probs, _softmax(np.array([1.0, 0.0, 2 / 3, 0.0]) / 0.5))
    ret = _hand_answerer(signal="retrieval").score(qs, docs)[0]
    # a small temperature gives logits in the thousands: still finite probabilities, all on the best support
    sharp = _hand_answerer(temperature=1e-3, signal="coverage").score(qs, docs)[0]
    np.testing.assert_allclose(sharp.probs, [1.0, 0.0, 0.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(ret.probs, _softmax(0.1 * _z([3.0, 2.0, 2.5, 0.0]) / 0.1))


def test_idf_weighted_support_by_hand():
    import math

    qs, docs = _hand_case()
    r1 = _hand_answerer(idf=True).score(qs, docs)[0]
    w = {t: math.log(1 + (10 - df + 0.5) / (df + 0.5)) for t, df in (("감", 1), ("귤", 2), ("딸기", 3))}
    assert r1.support[2] == pytest.approx((w["감"] + w["귤"]) / sum(w.values()))
    assert r1.support[:2] == [1.0, 0.0]


def test_choice_queries_take_300_characters_of_passage_and_boki_and_skip_blank_parts():
    from rag.evidence import choice_queries

    passage, plus = "가" * 299 + "나다", "보" * 299 + "기라"
    q = Question(id="c", question="물음?", paragraph=passage, question_plus=plus, choices=["하나", "둘"], answer=1)
    assert choice_queries(q) == [f"물음? {passage[:300]} {plus[:300]} {c}" for c in ("하나", "둘")]
    assert choice_queries(q, 2, 1) == ["물음? 가가 보 하나", "물음? 가가 보 둘"]
    blank = Question(id="b", question="물음?", paragraph="   ", question_plus="\n", choices=["하나", "둘"], answer=1)
    assert choice_queries(blank) == ["물음? 하나", "물음? 둘"]


def test_leakage_guard_by_id_or_text_names_five_and_defaults():
    """The guard refuses a question whose id, or whose normalised text, is in the bank (the message names at most
    five); a store without an exam-bank source is not scanned. The answerer's documented defaults."""
    from types import SimpleNamespace

    from knowledge_base.sources import normalise_question
    from rag.evidence import EvidenceAnswerer, LeakageError, refuse_leakage

    bank = [SimpleNamespace(metadata={"question_id": f"bank{i}", "question_norm": normalise_question(f"문제 {i}?")})
            for i in range(8)]
    chunks = SimpleNamespace(of_source=lambda name: bank if name == "exam_bank" else [])
    kb = SimpleNamespace(manifest={"sources": [{"name": "exam_bank"}]}, chunks=chunks, dir="KB")
    by_id = [Question(id=f"bank{i}", question="다른 문장", choices=["a", "b"]) for i in range(7)]
    with pytest.raises(LeakageError, match=r"^7 of the questions .* in the exam bank of KB \(e\.g\. bank0, bank1, "
                                           r"bank2, bank3, bank4\): rebuild"):
        refuse_leakage(kb, by_id)
    with pytest.raises(LeakageError, match=r"\(e\.g\. other\)"):
        refuse_leakage(kb, [Question(id="other", question="문제  3 ?", choices=["a", "b"])])
    refuse_leakage(kb, [Question(id="fresh", question="새 문제", choices=["a", "b"])])
    refuse_leakage(SimpleNamespace(manifest={}, chunks=None), by_id)  # no sources listed: nothing to scan

    ans = EvidenceAnswerer(SimpleNamespace(kb=SimpleNamespace(tokenizer=_SplitTokenizer())))
    assert (ans.top_k, ans.temperature, ans.passage_chars, ans.idf, ans.signal) == (5, 0.1, 300, False, "both")
    with pytest.raises(ValueError, match=r"^unknown evidence signal 'votes'; choose one of coverage, retrieval, "
                                         r"both$"):
        EvidenceAnswerer(ans.retriever, signal="votes")
