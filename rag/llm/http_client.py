"""A small client for an OpenAI-compatible HTTP API (standard library only): JSON requests with a timeout, retries
with exponential backoff on what a busy or restarting server answers (connection refused or reset, timeouts,
HTTP 408/409/425/429/5xx, honouring ``Retry-After``), an immediate error on anything else (a 400 says the request
is wrong: retrying cannot help), and ``map`` to keep ``max_concurrency`` requests in flight with the results in
the order of the inputs."""
from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from .base import LLMRequestError

T = TypeVar("T")
R = TypeVar("R")

#: HTTP statuses worth retrying: the server is busy, restarting or timed out, not refusing the request
RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
#: the longest wait between two attempts (seconds)
MAX_BACKOFF = 30.0


def _detail(body: bytes) -> str:
    """The server's own message from an error body (OpenAI's ``{"error": {"message": …}}``, FastAPI's
    ``{"detail": …}``), else the body's start."""
    text = body.decode("utf-8", errors="replace")
    try:
        obj = json.loads(text)
    except json.JSONDecodeError:
        return text.strip()[:300]
    if isinstance(obj, dict):
        err = obj.get("error", obj.get("detail", obj))
        if isinstance(err, dict) and "message" in err:
            err = err["message"]
        return str(err)[:300]
    return text.strip()[:300]


class OpenAIClient:
    """``post("/completions", payload)`` → the response's JSON. ``sleep`` is injectable so tests need not wait."""

    def __init__(self, base_url: str, api_key: str | None = None, timeout: float = 120.0, max_retries: int = 4,
                 max_concurrency: int = 8, backoff: float = 0.5, sleep: Callable[[float], None] = time.sleep):
        self.base_url = base_url.rstrip("/")
        self.api_key, self.timeout, self.max_retries = api_key, timeout, max_retries
        self.max_concurrency, self.backoff, self.sleep = max_concurrency, backoff, sleep
        #: requests sent (retries included) and retries (what a benchmark or a test counts)
        self.attempts = self.retries = 0
        self._count = threading.Lock()

    def get(self, path: str) -> Any:
        return self._request("GET", path, None)

    def post(self, path: str, payload: dict) -> Any:
        return self._request("POST", path, payload)

    def _request(self, method: str, path: str, payload: dict | None) -> Any:
        url = self.base_url + path
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        data = None if payload is None else json.dumps(payload, ensure_ascii=False).encode("utf-8")
        tries = self.max_retries + 1
        for attempt in range(tries):
            with self._count:
                self.attempts += 1
                self.retries += attempt > 0
            wait = min(self.backoff * 2 ** attempt, MAX_BACKOFF)
            try:
                req = urllib.request.Request(url, data=data, headers=headers, method=method)
                with urllib.request.urlopen(req, timeout=self.timeout) as r:
                    body = r.read()
            except urllib.error.HTTPError as e:
                detail = _detail(e.read() or b"")
                if e.code not in RETRY_STATUS:
                    raise LLMRequestError(f"{method} {url}: HTTP {e.code}: {detail}") from None
                reason = f"HTTP {e.code}: {detail}"
                after = e.headers.get("Retry-After") if e.headers else None
                if after and after.strip().replace(".", "", 1).isdigit():
                    wait = min(float(after), MAX_BACKOFF)
            except (urllib.error.URLError, TimeoutError, ConnectionError, http.client.HTTPException) as e:
                reason = str(getattr(e, "reason", e) or type(e).__name__)
            else:
                try:
                    return json.loads(body)
                except (json.JSONDecodeError, UnicodeDecodeError):
                    raise LLMRequestError(f"{method} {url}: the answer is not JSON: "
                                          f"{body[:200].decode('utf-8', 'replace')!r}") from None
            if attempt + 1 < tries:
                self.sleep(wait)
        raise LLMRequestError(f"{method} {url}: {reason} (gave up after {tries} attempt{'s' * (tries > 1)}; "
                              f"llm.max_retries={self.max_retries}, llm.timeout={self.timeout:g} s)")

    def map(self, fn: Callable[[T], R], items: Sequence[T], prompt_of: Callable[[T], str] | None = None) -> list[R]:
        """``[fn(x) for x in items]`` with up to ``max_concurrency`` calls at once, in the order of ``items``. The
        first failure (in item order) is raised with the prompt of its item (``prompt_of``), and requests not yet
        sent are cancelled."""
        def call(x: T) -> R:
            try:
                return fn(x)
            except LLMRequestError as e:
                if e.prompt is None and prompt_of is not None:
                    e.prompt = prompt_of(x)
                raise

        if len(items) <= 1 or self.max_concurrency == 1:
            return [call(x) for x in items]
        ex = ThreadPoolExecutor(max_workers=min(self.max_concurrency, len(items)))
        try:
            return list(ex.map(call, items))
        finally:
            ex.shutdown(wait=True, cancel_futures=True)
