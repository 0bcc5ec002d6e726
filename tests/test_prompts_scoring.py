"""Prompts and scoring on the tiny Qwen2 fixture model."""
import numpy as np
import pytest

from common.config import LLMConfig, PromptConfig, ScoringConfig
from rag.data import Question
from rag.llm import load_llm
from rag.prompts import PromptBuilder
from rag.scoring import cyclic_orders, make_scorer, unpermute
from rag.scoring.base import parse_label


@pytest.fixture(scope="module")
def llm(tiny_qwen_dir):
    # float32 everywhere: the exactness checks (batched = one by one at 1e-5) would not hold for the bf16 that
    # dtype "auto" picks on a GPU.
    return load_llm(LLMConfig(model=str(tiny_qwen_dir), dtype="float32", batch_size=3))


def built_prompts(llm, questions) -> tuple[list[str], list[int]]:
    """Default prompts (512-token budget) and choice counts of ``questions``."""
    b = PromptBuilder(llm.tokenizer, PromptConfig(max_tokens=512))
    return [b.build(q).text for q in questions], [q.n_choices for q in questions]


def test_prompt_contains_every_part(llm, train_rows):
    q = train_rows[0].model_copy(update={"question_plus": "ㄱ. 보기 내용", "hint": None})
    b = PromptBuilder(llm.tokenizer, PromptConfig(max_tokens=4096))
    ctx = [{"title": "세종", "text": "세종\n세종은 조선의 제4대 왕이다."}]
    r = b.build(q, context=ctx, hint="배경 설명")
    assert b.use_chat and r.text.startswith("<|im_start|>system\n") and r.text.endswith("<|im_start|>assistant\n")
    for part in ("참고 자료:\n[1] 세종\n세종은 조선의 제4대 왕이다.", "지문:\n" + q.paragraph[:50], "질문:\n",
                 "<보기>:\nㄱ. 보기 내용", "힌트:\n배경 설명", f"{q.n_choices} - {q.choices[-1]}"):
        assert part in r.text
    labels = ", ".join(str(i) for i in range(1, q.n_choices + 1))
    assert f"{labels} 중에 하나를 정답으로 고르세요.\n정답:" in r.text
    assert r.context_used == 1 and not r.over_budget


@pytest.mark.parametrize("n", [2, 4, 5, 7])
def test_prompt_any_number_of_choices(llm, n):
    q = Question(id="x", question="무엇인가?", choices=[f"선택{i}" for i in range(n)])
    text = PromptBuilder(llm.tokenizer).build(q).text
    assert f"{n} - 선택{n - 1}" in text and f"{', '.join(map(str, range(1, n + 1)))} 중에" in text


def test_budget_trims_context_then_passage_never_question_or_choices(llm, train_rows):
    q = max(train_rows, key=lambda q: len(q.paragraph))
    ctx = [{"title": f"문서{i}", "text": q.paragraph[:400]} for i in range(5)]
    full = PromptBuilder(llm.tokenizer, PromptConfig(max_tokens=100000)).build(q, context=ctx)
    q_only = PromptBuilder(llm.tokenizer, PromptConfig(max_tokens=100000)).build(q.model_copy(update={"paragraph": ""}))
    no_ctx = PromptBuilder(llm.tokenizer, PromptConfig(max_tokens=100000)).build(q)
    assert full.n_tokens > no_ctx.n_tokens > q_only.n_tokens
    budget = (q_only.n_tokens + no_ctx.n_tokens) // 2
    r = PromptBuilder(llm.tokenizer, PromptConfig(max_tokens=budget)).build(q, context=ctx)
    assert r.n_tokens <= budget and r.context_used == 0 and r.context_dropped == 5
    assert r.passage_trimmed_chars > 0 and "…(중략)…" in r.text
    assert q.question.strip() in r.text and all(c in r.text for c in q.choices)
    assert q.paragraph[:30] in r.text and q.paragraph[-30:] in r.text  # head and tail kept
    tiny = PromptBuilder(llm.tokenizer, PromptConfig(max_tokens=64)).build(q, context=ctx)
    assert tiny.over_budget and q.question.strip() in tiny.text and all(c in tiny.text for c in q.choices)


def test_logits_probabilities_sum_to_one_and_batched_equals_unbatched(llm, train_rows):
    prompts, n = built_prompts(llm, train_rows[:7])
    scorer = make_scorer(llm, ScoringConfig())
    batched = scorer.score(prompts, n)
    scorer.batch_size = 1
    single = scorer.score(prompts, n)
    for p, s, k in zip(batched, single, n):
        assert p.shape == (k,) and p.sum() == pytest.approx(1.0)
        np.testing.assert_allclose(p, s, atol=1e-5)


def test_multi_token_labels_use_sequence_log_probability(llm):
    """10 choices: label "10" is two tokens ("1", "0") with individually split digits."""
    scorer = make_scorer(llm, ScoringConfig())
    ids = [llm.label_token_ids(str(i)) for i in range(1, 11)]
    assert len(ids[9]) == 2 and all(len(t) == 1 for t in ids[:9])
    prompt = "질문: 무엇인가?\n정답:"
    probs = scorer.score([prompt], [10])[0]
    assert probs.shape == (10,) and probs.sum() == pytest.approx(1.0)
    # check against a direct computation
    import torch

    enc = llm.tokenizer(prompt, add_special_tokens=False)["input_ids"]
    lp = []
    for lab in ids:
        with torch.no_grad():
            logits = llm.model(torch.tensor([enc + lab], device=llm.model.device)).logits.log_softmax(-1)[0]
        lp.append(sum(logits[len(enc) - 1 + t, tok].item() for t, tok in enumerate(lab)))
    ref = np.exp(np.array(lp) - max(lp))
    np.testing.assert_allclose(probs, ref / ref.sum(), atol=1e-5)


def test_permutation_mapping():
    assert cyclic_orders(5, 1) == [[0, 1, 2, 3, 4]]
    orders = cyclic_orders(4, 4)
    assert orders == [[0, 1, 2, 3], [1, 2, 3, 0], [2, 3, 0, 1], [3, 0, 1, 2]]
    q = Question(id="x", question="q", choices=["a", "b", "c", "d"], answer=2)
    for order in orders:
        shown = q.with_choices(order)
        probs = np.eye(4)[shown.answer - 1]  # a model that always finds the right text
        np.testing.assert_allclose(unpermute(probs, order), np.eye(4)[1])
    assert len(cyclic_orders(5, 9)) == 5


def test_generate_scorer_parses_or_falls_back(llm, train_rows):
    assert parse_label("정답은 ③입니다", 5) == 3 and parse_label(" 4", 5) == 4 and parse_label("7", 5) is None
    qs = train_rows[:3]
    scorer = make_scorer(llm, ScoringConfig(method="generate", max_new_tokens=3))
    probs = scorer.score(*built_prompts(llm, qs))
    assert len(scorer.last_outputs) == 3
    assert len(scorer.last_new_tokens) == 3 and all(1 <= k <= 3 for k in scorer.last_new_tokens)
    for p, q in zip(probs, qs):
        assert p.shape == (q.n_choices,) and p.sum() == pytest.approx(1.0)


def test_score_cache_reuses_identical_prompts(llm, train_rows):
    prompts, n = built_prompts(llm, train_rows[:3])
    scorer = make_scorer(llm, ScoringConfig())
    plain = scorer.score(prompts, n)
    scorer.cache = {}
    calls = []
    orig = llm.forward
    llm.forward = lambda seqs, keep=1: (calls.append(len(seqs)), orig(seqs, keep))[1]
    try:
        first = scorer.score(prompts, n)
        again = scorer.score(prompts[::-1], n[::-1])
    finally:
        del llm.forward
    assert sum(calls) == 3  # the second call ran nothing
    for p, q, r in zip(plain, first, again[::-1]):
        np.testing.assert_allclose(p, q, atol=1e-6)
        np.testing.assert_allclose(q, r)


class _FirstLabelBias:
    """A scorer with a pure position bias: 0.7 on whichever choice is shown first, 0.1 on each other one."""

    def __init__(self):
        self.prompts = []

    def score(self, prompts, n_choices):
        self.prompts += prompts
        return [np.array([0.7] + [0.3 / (n - 1)] * (n - 1)) for n in n_choices]


@pytest.mark.parametrize("k,expected", [(1, [0.7, 0.1, 0.1, 0.1]), (2, [0.4, 0.1, 0.4, 0.1]),
                                        (4, [0.25, 0.25, 0.25, 0.25])])
def test_permutations_are_scored_and_mapped_back_to_the_original_order(llm, k, expected):
    """scoring.permutations = k shows the choices in k cyclic orders and averages the probabilities of each original
    choice: a position bias is cancelled by hand-computable amounts (k = 2 shows choice 3 first once)."""
    from common.config import load_config
    from rag.pipeline import Pipeline
    from rag.router import make_router

    cfg = load_config(None, ["router.name=always-korean", f"scoring.permutations={k}"])
    scorer = _FirstLabelBias()
    pipe = Pipeline(cfg, llm, make_router(cfg.router), None, {}, scorer)
    q = Question(id="p", question="무엇인가?", choices=["가", "나", "다", "라"], answer=1)
    probs = pipe.score([q], pipe.prompts([q], [[]]))[0]
    np.testing.assert_allclose(probs, expected)
    assert len(scorer.prompts) == k and len(set(scorer.prompts)) == k  # k different orders were shown


class _RecordingRetriever:
    fingerprint = "recording"

    def __init__(self):
        self.queries = []

    def batch_retrieve(self, queries, k):
        self.queries += queries
        return [[] for _ in queries]


@pytest.mark.parametrize("mode,expected", [
    ("question", "어느 왕인가?"),
    ("question+passage", "어느 왕인가? 세종은 한글을 만들었다. <보기> 집현전"),
    ("question+passage+choices", "어느 왕인가? 세종은 한글을 만들었다. 태조 세종 <보기> 집현전"),
])
def test_retrieval_query_modes_send_what_they_name(llm, mode, expected):
    """Each retrieval.query mode sends the retriever the parts it names (the passage head and <보기> only with
    'passage', the choices only with 'choices'); 국어 routes send nothing."""
    from common.config import load_config
    from rag.pipeline import Pipeline
    from rag.router import make_router

    cfg = load_config(None, ["router.name=always-social", f"retrieval.query={mode}"])
    retriever = _RecordingRetriever()
    pipe = Pipeline(cfg, llm, make_router(cfg.router), retriever, {}, _FirstLabelBias())
    q = Question(id="w", paragraph="세종은 한글을 만들었다.", question="어느 왕인가?", choices=["태조", "세종"],
                 question_plus="<보기> 집현전", answer=2)
    pipe.retrieve([q], pipe.route([q]))
    assert retriever.queries == [expected]
    korean = Pipeline(load_config(None, ["router.name=always-korean", f"retrieval.query={mode}"]), llm,
                      make_router(load_config(None, ["router.name=always-korean"]).router), retriever, {},
                      _FirstLabelBias())
    korean.retrieve([q], korean.route([q]))
    assert retriever.queries == [expected]  # nothing more was asked


class _StubLLM:
    """An LLM whose generations are given by prompt and whose label log-probabilities are log(1 … n): what the
    generate scorer does with each is known exactly."""

    def __init__(self, texts, offset=0.0):
        self.texts, self.calls, self.config, self.offset = texts, [], LLMConfig(batch_size=7), offset

    def generate(self, prompts, max_new_tokens, batch_size=None):
        from rag.llm import Generation

        self.calls.append(("generate", list(prompts), max_new_tokens, batch_size))
        return [Generation(self.texts[p], 2) for p in prompts]

    def label_logprobs(self, prompts, labels, batch_size=None):
        self.calls.append(("label_logprobs", list(prompts), [list(x) for x in labels], batch_size))
        return [(np.log(np.arange(1, len(x) + 1)) + self.offset).astype(np.float32) for x in labels]


def test_generate_scorer_one_hot_where_parsed_logits_elsewhere():
    from rag.scoring.generate import GenerateScorer

    assert parse_label("1", 4) == 1 and parse_label("답 5", 5) == 5 and parse_label("5 아니면 2", 4) == 2
    assert parse_label("⑩", 10) == 10 and parse_label("⑤", 4) is None and parse_label("0", 4) is None
    llm = _StubLLM({"a": "정답: 1", "b": "⑤번", "c": "5", "d": "모름"})
    scorer = GenerateScorer(llm, ScoringConfig(method="generate", max_new_tokens=5), batch_size=3)
    probs = scorer.score(["a", "b", "c", "d"], [4, 5, 4, 4])
    np.testing.assert_array_equal(probs[0], np.eye(4)[0])
    np.testing.assert_array_equal(probs[1], np.eye(5)[4])
    for p in probs[2:]:  # "5" is no label of a 4-choice question, "모름" none at all: the logits scorer answers
        np.testing.assert_allclose(p, np.arange(1, 5) / 10)
    assert scorer.last_fallbacks == [2, 3] and scorer.last_new_tokens == [2, 2, 2, 2]
    assert llm.calls == [("generate", ["a", "b", "c", "d"], 5, 3),
                         ("label_logprobs", ["c", "d"], [["1", "2", "3", "4"]] * 2, 3)]
    assert GenerateScorer(llm).batch_size == 7  # the LLM's own batch size by default
    assert all(p.dtype == np.float64 for p in probs)


def test_logits_scorer_is_stable_for_very_unlikely_labels():
    """Label log-probabilities near -800 (labels the model all but rules out) still give their softmax."""
    from rag.scoring.logits import LogitsScorer

    (p,) = LogitsScorer(_StubLLM({}, offset=-800.0)).score(["x"], [2])
    assert p.dtype == np.float64
    np.testing.assert_allclose(p, [1 / 3, 2 / 3], rtol=1e-4)  # float32 log-probabilities near -800


def test_the_evidence_scorer_refuses_prompts_and_passes_evidence_through():
    from rag.evidence import EvidenceResult
    from rag.scoring.evidence import EvidenceScorer

    s = EvidenceScorer()
    assert not s.needs_llm and s.batch_size == 1 and s.cfg.method == "evidence"
    with pytest.raises(TypeError, match=r"^the evidence scorer scores retrieved evidence, not prompts: use "
                                        r"from_evidence \(rag\.pipeline does, with scoring\.method=evidence\)$"):
        s.score(["a prompt"], [4])
    r = EvidenceResult(probs=np.array([0.25, 0.75], np.float32), support=[0.1, 0.9], negated=False, best=[0, 0])
    (p,) = s.from_evidence([r])
    assert p.dtype == np.float64 and p.tolist() == [0.25, 0.75]
