"""A small OpenAI-compatible server for the served backend's tests: ``/v1/models``, ``/v1/completions`` (``logprobs``,
``echo``, greedy ``max_tokens``) and ``/v1/chat/completions`` (``logprobs``/``top_logprobs``), answered by a real
transformers model (the tiny Qwen) in the shapes vLLM answers with: token texts as keys of ``top_logprobs``, the
first prompt token's log-probability ``null`` under ``echo``, ``usage`` counts. Knobs for the tests: ``fail``
(HTTP statuses to answer the next requests with), ``no_logprobs`` (a server that ignores ``logprobs``, as some
Ollama versions do), ``delay`` (seconds to hold a request, by its prompt, to shuffle completion order), and
``requests`` (every payload received). Not the real-server check: that is llama-cpp-python's server."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np


class FakeOpenAIServer:
    def __init__(self, model_dir, name: str = "tiny"):
        from common.config import LLMConfig
        from rag.llm.hf import load_hf

        self.llm = load_hf(LLMConfig(model=str(model_dir), dtype="float32"))
        self.tok, self.name = self.llm.tokenizer, name
        self.fail: list[int] = []
        self.no_logprobs = False
        self.delay = None  # prompt -> seconds
        self.requests: list[dict] = []
        self.lock = threading.Lock()  # one forward pass at a time
        self.max_in_flight = self._in_flight = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, code: int, obj) -> None:
                body = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                if self.path == "/v1/models":
                    self._send(200, {"object": "list", "data": [{"id": server.name, "object": "model"}]})
                else:
                    self._send(404, {"error": {"message": f"no route {self.path}"}})

            def do_POST(self):
                payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.lock:
                    server.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), **payload})
                    code = server.fail.pop(0) if server.fail else None
                    server._in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server._in_flight)
                try:
                    if code is not None:
                        return self._send(code, {"error": {"message": f"injected {code}"}})
                    if server.delay is not None:
                        time.sleep(server.delay(payload.get("prompt") or json.dumps(payload.get("messages"))))
                    if self.path == "/v1/completions":
                        return self._send(200, server.completion(payload))
                    if self.path == "/v1/chat/completions":
                        return self._send(200, server.chat(payload))
                    self._send(404, {"error": {"message": f"no route {self.path}"}})
                finally:
                    with server.lock:
                        server._in_flight -= 1

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()

    # ------------------------------------------------------------------ the model
    def _text(self, i: int) -> str:
        return self.tok.decode([i])

    def _run(self, ids: list[int], max_tokens: int) -> tuple[list[int], np.ndarray]:
        """Greedy continuation of ``ids`` and the log-softmax at every position of ids + continuation."""
        with self.lock:
            seq = list(ids)
            for _ in range(max_tokens):
                nxt = int(self.llm.forward([seq], keep=1)[0, -1].argmax())
                seq.append(nxt)
                if nxt == self.tok.eos_token_id:
                    break
            logp = self.llm.forward([seq], keep=len(seq))[0].numpy()
        return seq[len(ids):], logp

    def _top(self, row: np.ndarray, k: int) -> list[tuple[str, float]]:
        idx = np.argsort(-row)[:k]
        return [(self._text(int(i)), float(row[i])) for i in idx]

    def completion(self, p: dict) -> dict:
        ids = self.tok.encode(p["prompt"], add_special_tokens=False)
        gen, logp = self._run(ids, int(p.get("max_tokens", 16)))
        k = p.get("logprobs")
        logprobs = None
        if k is not None and not self.no_logprobs:
            start = 0 if p.get("echo") else len(ids)
            seq = ids + gen
            toks = [self._text(t) for t in seq[start:]]
            # position t's token is predicted by the logits at t - 1
            vals = [None if t == 0 else float(logp[t - 1, seq[t]]) for t in range(start, len(seq))]
            tops = [None if t == 0 else dict(self._top(logp[t - 1], int(k))) for t in range(start, len(seq))]
            logprobs = {"tokens": toks, "token_logprobs": vals, "top_logprobs": tops, "text_offset": []}
        text = self.tok.decode(gen, skip_special_tokens=True)
        return {"object": "text_completion", "model": self.name,
                "choices": [{"index": 0, "text": (p["prompt"] + text) if p.get("echo") else text,
                             "logprobs": logprobs, "finish_reason": "length"}],
                "usage": {"prompt_tokens": len(ids), "completion_tokens": len(gen)}}

    def chat(self, p: dict) -> dict:
        prompt = self.tok.apply_chat_template(p["messages"], tokenize=False, add_generation_prompt=True)
        ids = self.tok.encode(prompt, add_special_tokens=False)
        gen, logp = self._run(ids, int(p.get("max_tokens", 16)))
        logprobs = None
        if p.get("logprobs") and not self.no_logprobs:
            k = int(p.get("top_logprobs") or 0)
            content = []
            for n, t in enumerate(gen):
                row = logp[len(ids) + n - 1]
                content.append({"token": self._text(t), "logprob": float(row[t]),
                                "top_logprobs": [{"token": a, "logprob": b} for a, b in self._top(row, k)]})
            logprobs = {"content": content}
        return {"object": "chat.completion", "model": self.name,
                "choices": [{"index": 0, "message": {"role": "assistant",
                                                     "content": self.tok.decode(gen, skip_special_tokens=True)},
                             "logprobs": logprobs, "finish_reason": "length"}],
                "usage": {"prompt_tokens": len(ids), "completion_tokens": len(gen)}}
