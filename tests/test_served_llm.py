"""The served backend (``llm.backend: openai``) against a local OpenAI-compatible server that runs the tiny model
(``openai_server.py``): what it sends, what it reads back, retries, order under concurrency, and that every
LLM user (scoring, generation, hints, the LLM router, predict and its resume) gets the same answers as the
in-process ``hf`` backend on the same model."""
import json

import numpy as np
import pytest
from cli_helpers import run_cli
from openai_server import FakeOpenAIServer

from common.config import LLMConfig, PromptConfig, load_config
from rag.llm import load_llm
from rag.llm.base import LLMRequestError
from rag.llm.http_client import OpenAIClient
from rag.llm.served import ChatPrompt
from rag.prompts import PromptBuilder

#: more than the tiny model's vocabulary: top_logprobs then holds every token (a random model's top 20 rarely
#: holds the digits)
VOCAB = 5000


@pytest.fixture(scope="module")
def server(tiny_qwen_dir):
    with FakeOpenAIServer(tiny_qwen_dir) as s:
        yield s


@pytest.fixture(scope="module")
def hf(tiny_qwen_dir):
    return load_llm(LLMConfig(model=str(tiny_qwen_dir), dtype="float32", batch_size=4))


@pytest.fixture(autouse=True)
def _reset(server):
    server.fail, server.no_logprobs, server.delay = [], False, None
    server.requests.clear()
    server.max_in_flight = 0


def served(server, tiny_qwen_dir, **kw) -> object:
    cfg = LLMConfig(backend="openai", base_url=server.url, model=server.name, tokenizer=str(tiny_qwen_dir), **kw)
    return load_llm(cfg)


def _prompts(llm, rows, n=4):
    return [PromptBuilder(llm.tokenizer, PromptConfig(max_tokens=512)).build(q).text for q in rows[:n]]


def test_label_logprobs_match_in_process_and_fall_back_to_echo(server, hf, tiny_qwen_dir, train_rows):
    prompts = _prompts(hf, train_rows)
    labels = [["1", "2", "3", "4", "5"], ["1", "2"], ["3", "10"], ["4", "5", "1"]]  # "10" is two tokens
    want = hf.label_logprobs(prompts, labels)
    llm = served(server, tiny_qwen_dir, top_logprobs=VOCAB)  # every one-token label is in the top k
    got = llm.label_logprobs(prompts, labels)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, atol=1e-4)
    sent = server.requests
    first = [r for r in sent if not r.get("echo")]
    echo = [r for r in sent if r.get("echo")]
    assert len(first) == 4 and all(r["max_tokens"] == 1 and r["logprobs"] == VOCAB for r in first)
    assert [r["prompt"] for r in echo] == [prompts[2] + "10"]  # only the two-token label needs echo
    # with the top 2 only, most labels are missing from it and are scored exactly through echo: the same values
    server.requests.clear()
    got = served(server, tiny_qwen_dir, top_logprobs=2).label_logprobs(prompts, labels)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, atol=1e-4)
    top2 = [set(hf.forward([hf.encode([p])[0]])[0, -1].topk(2).indices.tolist()) for p in prompts]
    outside = [(i, lab) for i, labs in enumerate(labels) for lab in labs
               if len(hf.label_token_ids(lab)) > 1 or hf.label_token_ids(lab)[0] not in top2[i]]
    assert sorted(r["prompt"] for r in server.requests if r.get("echo")) == sorted(prompts[i] + lab
                                                                                  for i, lab in outside)


def test_chat_api_sends_the_messages_and_scores_the_same(server, hf, tiny_qwen_dir, train_rows):
    llm = served(server, tiny_qwen_dir, api="chat", top_logprobs=VOCAB)
    builder = PromptBuilder(llm.tokenizer, PromptConfig(max_tokens=512))
    prompts = [builder.build(q).text for q in train_rows[:3]]
    assert all(isinstance(p, ChatPrompt) for p in prompts)
    assert prompts == _prompts(hf, train_rows, 3)  # the same text as in-process: counted the same, budgeted the same
    labels = [["1", "2", "3", "4"]] * 3
    got = llm.label_logprobs(prompts, labels)
    for g, w in zip(got, hf.label_logprobs(prompts, labels)):
        np.testing.assert_allclose(g, w, atol=1e-4)
    sent = server.requests
    assert all(r["path"] == "/v1/chat/completions" and r["logprobs"] is True for r in sent)
    assert sorted(json.dumps(r["messages"]) for r in sent) == sorted(json.dumps(p.messages) for p in prompts)
    assert [m["role"] for m in prompts[0].messages] == ["system", "user"]
    with pytest.raises(LLMRequestError, match="chat endpoints return no prompt log-probabilities"):
        served(server, tiny_qwen_dir, api="chat", top_logprobs=1).label_logprobs(prompts[:1], [["1", "2", "3"]])


def test_generate_completions_and_chat_equal_in_process(server, hf, tiny_qwen_dir, train_rows):
    prompts = _prompts(hf, train_rows, 3)
    want = hf.generate(prompts, 6)
    for api in ("completions", "chat"):
        llm = served(server, tiny_qwen_dir, api=api)
        got = llm.generate(_prompts(llm, train_rows, 3), 6)  # chat: the builder's messages, templated by the server
        assert [g.text for g in got] == [w.text for w in want]
        assert [g.n_tokens for g in got] == [w.n_tokens for w in want]


def test_retries_then_a_clear_error_and_no_retry_of_a_bad_request(server, tiny_qwen_dir, train_rows):
    llm = served(server, tiny_qwen_dir, max_retries=2)
    llm.client.sleep = lambda s: None
    p = _prompts(llm, train_rows, 1)
    server.fail = [503, 429]
    assert len(llm.generate(p, 2)) == 1 and len(server.requests) == 3  # two failures retried, the third answered
    server.requests.clear()
    server.fail = [502] * 5
    with pytest.raises(LLMRequestError, match=r"HTTP 502: injected 502 \(gave up after 3 attempts; "
                                              r"llm.max_retries=2") as e:
        llm.generate(p, 2)
    assert e.value.prompt == p[0] and len(server.requests) == 3
    server.requests.clear()
    server.fail = [400]
    with pytest.raises(LLMRequestError, match="HTTP 400: injected 400"):
        llm.generate(p, 2)
    assert len(server.requests) == 1
    server.fail = []


def test_backoff_doubles_and_honours_retry_after():
    import http.server
    import threading

    waits = []

    class H(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_POST(self):
            self.send_response(429)
            if self.path == "/after":
                self.send_header("Retry-After", "7")
            self.end_headers()

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        c = OpenAIClient(f"http://127.0.0.1:{httpd.server_address[1]}", max_retries=3, sleep=waits.append)
        with pytest.raises(LLMRequestError, match="HTTP 429"):
            c.post("/x", {})
        assert waits == [0.5, 1.0, 2.0]
        waits.clear()
        with pytest.raises(LLMRequestError):
            c.post("/after", {})
        assert waits == [7.0, 7.0, 7.0]
    finally:
        httpd.shutdown()


def test_concurrent_requests_keep_the_question_order(server, hf, tiny_qwen_dir, train_rows):
    prompts = _prompts(hf, train_rows, 8)
    rank = {p: i for i, p in enumerate(prompts)}
    server.delay = lambda p: 0.05 * (8 - rank.get(p, 0))  # the first prompt is answered last
    llm = served(server, tiny_qwen_dir, max_concurrency=4, top_logprobs=VOCAB)
    got = llm.label_logprobs(prompts, [["1", "2", "3", "4"]] * 8)
    assert server.max_in_flight == 4
    for g, w in zip(got, hf.label_logprobs(prompts, [["1", "2", "3", "4"]] * 8)):
        np.testing.assert_allclose(g, w, atol=1e-4)


def test_a_server_without_logprobs_is_refused_for_scoring_but_generates(server, tiny_qwen_dir, train_rows):
    server.no_logprobs = True
    llm = served(server, tiny_qwen_dir)
    p = _prompts(llm, train_rows, 1)
    with pytest.raises(LLMRequestError, match="returned no top_logprobs .* use scoring.method=generate"):
        llm.label_logprobs(p, [["1", "2"]])
    assert len(llm.generate(p, 3)) == 1


def test_load_checks_the_server_the_model_and_the_key(server, tiny_qwen_dir, monkeypatch):
    with pytest.raises(ValueError, match="llm.base_url"):
        load_llm(LLMConfig(backend="openai", model="tiny", tokenizer=str(tiny_qwen_dir)))
    with pytest.raises(ValueError, match=r"llm.model 'other': the server at .* serves tiny"):
        load_llm(LLMConfig(backend="openai", base_url=server.url, model="other", tokenizer=str(tiny_qwen_dir)))
    with pytest.raises(LLMRequestError, match="gave up after 1 attempt"):
        load_llm(LLMConfig(backend="openai", base_url="http://127.0.0.1:9/v1", model="tiny", max_retries=0,
                           tokenizer=str(tiny_qwen_dir)))
    with pytest.raises(ValueError, match=r"llm.tokenizer '/nonexistent/tok' could not be loaded"):
        load_llm(LLMConfig(backend="openai", base_url=server.url, model="tiny", tokenizer="/nonexistent/tok"))
    monkeypatch.delenv("CSAT_TEST_KEY", raising=False)
    with pytest.raises(ValueError, match=r"\$CSAT_TEST_KEY, which is not set"):
        served(server, tiny_qwen_dir, api_key_env="CSAT_TEST_KEY")
    monkeypatch.setenv("CSAT_TEST_KEY", "sk-secret")
    served(server, tiny_qwen_dir, api_key_env="CSAT_TEST_KEY").generate(["안녕"], 1)
    assert server.requests[-1]["auth"] == "Bearer sk-secret"


def _run_args(server, tiny_qwen_dir, data, out, *extra):
    return ["--data", str(data), "--out", str(out), "-o", "llm.backend=openai", "-o", f"llm.base_url={server.url}",
            "-o", f"llm.model={server.name}", "-o", f"llm.tokenizer={tiny_qwen_dir}", "-o", f"llm.top_logprobs={VOCAB}",
            "-o", "prompt.max_tokens=512", *extra]


def test_predict_and_resume_over_a_server_equal_in_process(server, tiny_qwen_dir, train_rows, tmp_path,
                                                           monkeypatch):
    from rag.data import write_jsonl
    from rag.predict import main

    monkeypatch.setenv("CSAT_TEST_KEY", "sk-secret")
    data = write_jsonl(train_rows[:3] + train_rows[-3:], tmp_path / "q.jsonl")
    local = tmp_path / "hf"
    assert main(["--data", str(data), "--out", str(local), "-o", f"llm.model={tiny_qwen_dir}",
                 "-o", "prompt.max_tokens=512", "-o", "router.name=llm"]) == 0
    out = tmp_path / "served"
    args = _run_args(server, tiny_qwen_dir, data, out, "-o", "router.name=llm", "-o", "llm.api_key_env=CSAT_TEST_KEY")
    assert main(args + ["--checkpoint-every", "2"]) == 0
    rows = [json.loads(x) for x in (out / "details.jsonl").read_text().splitlines()]
    want = [json.loads(x) for x in (local / "details.jsonl").read_text().splitlines()]
    assert [r["prediction"] for r in rows] == [r["prediction"] for r in want]
    # the LLM router through the server: the same P(social) as in-process
    np.testing.assert_allclose([r["p_social"] for r in rows], [r["p_social"] for r in want], atol=1e-4)
    np.testing.assert_allclose(np.concatenate([r["probs"] for r in rows]), np.concatenate([r["probs"] for r in want]),
                               atol=1e-4)
    assert "sk-secret" not in (out / "config.yaml").read_text()
    # resume: cut the run after 4 records; the resumed run asks the server for the 2 questions left, no more
    (out / "details.jsonl").write_text("\n".join((out / "details.jsonl").read_text().splitlines()[:4]) + "\n")
    (out / "predictions.csv").unlink()
    server.requests.clear()
    assert main(args + ["--resume"]) == 0
    qs = train_rows[:3] + train_rows[-3:]
    sent = [r.get("prompt") or json.dumps(r.get("messages"), ensure_ascii=False) for r in server.requests]
    asked = {q.id for q in qs for t in sent if q.question.strip() in t}
    assert asked == {q.id for q in qs[4:]}  # only the two unfinished questions went to the server
    assert [json.loads(x)["id"] for x in (out / "details.jsonl").read_text().splitlines()] == [r["id"] for r in want]
    assert (out / "predictions.csv").read_text() == (local / "predictions.csv").read_text()


def test_a_failed_request_names_the_question(server, tiny_qwen_dir, train_rows, tmp_path, capsys):
    from rag.data import write_jsonl
    from rag.predict import main

    data = write_jsonl(train_rows[:2], tmp_path / "q.jsonl")
    server.fail = [500] * 50
    code, err = run_cli(main, _run_args(server, tiny_qwen_dir, data, tmp_path / "run", "-o",
                                        "router.name=always-korean", "-o", "llm.max_retries=0"), capsys)
    server.fail = []
    assert code == 2 and f"question {train_rows[0].id}: " in err and "HTTP 500" in err


def test_hints_through_a_server(server, tiny_qwen_dir, hf, train_rows, tmp_path):
    from rag.hints import generate_hints
    from rag.prompts.hints_file import load_hints

    llm = served(server, tiny_qwen_dir)
    assert generate_hints(llm, train_rows[:3], tmp_path / "s.jsonl", batch_size=2, max_new_tokens=5) == 3
    generate_hints(hf, train_rows[:3], tmp_path / "h.jsonl", batch_size=2, max_new_tokens=5)
    assert load_hints(tmp_path / "s.jsonl") == load_hints(tmp_path / "h.jsonl")
    assert generate_hints(llm, train_rows[:3], tmp_path / "s.jsonl", batch_size=2, max_new_tokens=5) == 0


def test_config_example_names_the_served_backend():
    cfg = load_config("configs/served.yaml", [])
    assert cfg.llm.backend == "openai" and cfg.llm.base_url and cfg.llm.tokenizer


def test_generate_scoring_and_an_ensemble_of_served_runs(server, tiny_qwen_dir, train_rows, tmp_path):
    from eval.ensemble import main as ensemble
    from rag.data import write_jsonl
    from rag.predict import main

    data = write_jsonl(train_rows[:2] + train_rows[-2:], tmp_path / "q.jsonl")
    gen = ["-o", "scoring.method=generate", "-o", "scoring.max_new_tokens=3", "-o", "router.name=always-korean"]
    assert main(["--data", str(data), "--out", str(tmp_path / "hf"), "-o", f"llm.model={tiny_qwen_dir}",
                 "-o", "prompt.max_tokens=512", *gen]) == 0
    assert main(_run_args(server, tiny_qwen_dir, data, tmp_path / "gen", *gen)) == 0
    assert main(_run_args(server, tiny_qwen_dir, data, tmp_path / "logits", "-o", "router.name=always-korean")) == 0

    def details(run):
        return [json.loads(x) for x in (tmp_path / run / "details.jsonl").read_text().splitlines()]

    # generate-and-parse (and its logits fallback) through the server: the in-process run's answers and scores
    assert [r["prediction"] for r in details("gen")] == [r["prediction"] for r in details("hf")]
    np.testing.assert_allclose(np.concatenate([r["probs"] for r in details("gen")]),
                               np.concatenate([r["probs"] for r in details("hf")]), atol=1e-4)
    assert any(r["path"] == "/v1/completions" and r["max_tokens"] == 3 for r in server.requests)
    # served runs ensemble like any others: soft = the mean of the members' probabilities
    assert ensemble([str(tmp_path / "gen"), str(tmp_path / "logits"), "--method", "soft",
                     "--out", str(tmp_path / "ens")]) == 0
    for e, a, b in zip(details("ens"), details("gen"), details("logits")):
        np.testing.assert_allclose(e["probs"], (np.array(a["probs"]) + np.array(b["probs"])) / 2, atol=1e-6)


def test_fine_tuning_refuses_a_served_model():
    from finetune.data import finetune_config

    cfg = load_config(None, ["llm.backend=openai", "llm.base_url=http://127.0.0.1:9/v1"])
    with pytest.raises(ValueError, match="llm.backend must be hf"):
        finetune_config(cfg)
