"""A small OpenAI-compatible chat server on 127.0.0.1 for the litellm path.

It answers `POST /v1/chat/completions` (and `/v1/completions`, with text choices) like vLLM would, from a `script` callable that sees the
parsed request body and returns a `Reply`: either choices (content, optional separate reasoning,
finish reason) or a fault (an HTTP status with headers, a dropped connection, a garbage body,
a delay longer than the client's timeout). Every request body is kept in `requests` so tests can
check what really went over the wire. `FaultInjector` is a script that injects faults of every
kind at random into a share of the requests and counts them, for the fault-injection suite.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


@dataclass
class Choice:
    content: str
    reasoning: str | None = None
    finish_reason: str = "stop"
    tool_calls: list[dict[str, Any]] | None = None
    reasoning_tokens: int | None = None  # summed into usage.completion_tokens_details, as vLLM does


@dataclass
class Reply:
    choices: list[Choice] = field(default_factory=list)
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    error: str = ""
    drop: bool = False  # close the socket without answering
    garbage: bool = False  # a 200 whose body is not JSON
    body: bytes | None = None  # a 200 with exactly this body (e.g. JSON cut off mid-way)
    delay_s: float = 0.0


Script = Callable[[dict[str, Any]], Reply]

_ANSWERS = re.compile(r"### Assistant 1\n\n(?P<a>.*)\n\n\n### Assistant 2\n\n(?P<b>.*)\n\n## Analysis", re.DOTALL)


def prompt_text(body: dict[str, Any]) -> str:
    """The user turn of a chat body, or the whole rendered prompt of a completions body."""
    return body["messages"][-1]["content"] if "messages" in body else body["prompt"]


def split_prompt(body: dict[str, Any]) -> tuple[str, str]:
    """The two candidate texts as the RRM prompt shows them (for scripts that judge content)."""
    match = _ANSWERS.search(prompt_text(body))
    assert match, "not an RRM prompt"
    return match["a"], match["b"]


def rrm_choice(verdict: int, reasoning: str = "Comparing both.") -> Choice:
    """A well-formed RRM sample without a reasoning parser: reasoning</think>answer."""
    return Choice(content=f"{reasoning}\n</think>\n\n\\boxed{{Assistant {verdict}}}")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # The default listen backlog (5) refuses connections when many clients connect at once:
    # failures the tests did not inject, which would break their exact retry counts.
    request_queue_size = 512


class FakeOpenAIServer:
    """Start with `with FakeOpenAIServer(script) as server:`; `server.api_base` is the URL."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.requests: list[dict[str, Any]] = []
        self.authorizations: list[str] = []
        """The Authorization header of every request (to check that a key was really sent)."""
        self.paths: list[str] = []
        """The URL path of every request."""
        self.connections_opened = 0
        """TCP connections accepted (fewer than requests when a client reuses them)."""
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._httpd = _Server(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

            def setup(self) -> None:
                super().setup()
                with server._lock:
                    server.connections_opened += 1

            def do_GET(self) -> None:
                self._send(200, {"object": "list", "data": [{"id": "fake", "object": "model"}]})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server._lock:
                    server.requests.append(body)
                    server.authorizations.append(self.headers.get("Authorization", ""))
                    server.paths.append(self.path)
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    self._answer(body, server.script(body))
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up first (its timeout, a cancellation): nobody to answer
                finally:
                    with server._lock:
                        server.in_flight -= 1

            def _answer(self, body: dict[str, Any], reply: Reply) -> None:
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                if reply.drop:
                    self.close_connection = True
                    self.connection.close()
                    return
                if reply.garbage or reply.body is not None:
                    self._send_raw(200, b"<html>not json" if reply.body is None else reply.body, {})
                    return
                if reply.status != 200:
                    payload = {"error": {"message": reply.error or "fault", "code": reply.status}}
                    self._send(reply.status, payload, reply.headers)
                    return
                chat = self.path.endswith("/chat/completions")
                self._send(200, (_completion if chat else _text_completion)(body, reply.choices), reply.headers)

            def _send(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
                self._send_raw(status, json.dumps(payload).encode(), headers or {})

            def _send_raw(self, status: int, data: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

        return Handler


def _completion(body: dict[str, Any], choices: list[Choice]) -> dict[str, Any]:
    prompt_tokens = sum(len(m["content"].split()) for m in body["messages"])
    out = []
    completion_tokens = 0
    for i, choice in enumerate(choices):
        message: dict[str, Any] = {"role": "assistant", "content": choice.content}
        if choice.reasoning is not None:
            message["reasoning_content"] = choice.reasoning
        if choice.tool_calls is not None:
            message["tool_calls"] = choice.tool_calls
        completion_tokens += len(choice.content.split()) + len((choice.reasoning or "").split())
        out.append({"index": i, "message": message, "finish_reason": choice.finish_reason})
    usage: dict[str, Any] = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }
    if any(c.reasoning_tokens is not None for c in choices):
        usage["completion_tokens_details"] = {"reasoning_tokens": sum(c.reasoning_tokens or 0 for c in choices)}
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "fake"),
        "choices": out,
        "usage": usage,
    }


def _text_completion(body: dict[str, Any], choices: list[Choice]) -> dict[str, Any]:
    """A reply of the completions endpoint: the choices' contents as text."""
    out = [{"index": i, "text": c.content, "finish_reason": c.finish_reason} for i, c in enumerate(choices)]
    usage = {
        "prompt_tokens": len(str(body.get("prompt", "")).split()),
        "completion_tokens": sum(len(c.content.split()) for c in choices),
    }
    return {"id": "cmpl-fake", "object": "text_completion", "model": body.get("model", "fake"), "choices": out,
            "usage": usage}  # fmt: skip


TRANSPORT_FAULTS = ("500", "429", "drop", "slow", "malformed")
"""Faults the client must retry (each one is one `Usage.retries`)."""
CONTENT_FAULTS = ("cut_off", "no_verdict")
"""Well-formed replies without a verdict: the client must resample (each sample one `Usage.resamples`)."""
DECOY_FAULTS = ("decoy", "decoy_reasoning")
"""Correct verdicts behind a wrong, verdict-shaped decoy in the reasoning: must change nothing."""
FAULTS = TRANSPORT_FAULTS + CONTENT_FAULTS + DECOY_FAULTS

_QUERY = re.compile(r"## Query\n\n(?P<q>.*?)\n\n## Assistant responses", re.DOTALL)


def prompt_query(body: dict[str, Any]) -> str:
    """The query of an RRM prompt (for scripts that count per selection)."""
    match = _QUERY.search(prompt_text(body))
    assert match, "not an RRM prompt"
    return match["q"]


class FaultInjector:
    """A script that judges with `verdict(body)` (1 or 2) and answers a share `rate` of requests
    with a fault drawn from `kinds`, seeded by `seed`; `injected[query][kind]` counts them.

    Transport faults are counted per request, content and decoy faults per sample (a request
    asking for n samples gets n faulty ones). One prompt is faulted at most `max_per_prompt`
    times, so a judge allowed that many retries and resamples always gets its verdict, and a
    deterministic `verdict` makes the winners comparable with a fault-free run. A "slow" reply
    comes `slow_s` seconds late: set the client's timeout below that.
    """

    def __init__(
        self,
        verdict: Callable[[dict[str, Any]], int],
        *,
        rate: float = 0.2,
        kinds: tuple[str, ...] = FAULTS,
        seed: int = 0,
        max_per_prompt: int = 2,
        slow_s: float = 1.0,
    ) -> None:
        self.verdict = verdict
        self.rate = rate
        self.kinds = kinds
        self.max_per_prompt = max_per_prompt
        self.slow_s = slow_s
        self.injected: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self.requests: Counter[str] = Counter()
        """Requests received per query (faulty or not)."""
        self._faulted: Counter[str] = Counter()
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def total(self, kinds: tuple[str, ...] = FAULTS) -> int:
        return sum(counts[k] for counts in self.injected.values() for k in kinds)

    def __call__(self, body: dict[str, Any]) -> Reply:
        n = body.get("n", 1)
        right = self.verdict(body)
        query = prompt_query(body)
        prompt = json.dumps(body["messages"])
        with self._lock:
            self.requests[query] += 1
            kind = None
            if self._faulted[prompt] < self.max_per_prompt and self._rng.random() < self.rate:
                kind = self._rng.choice(self.kinds)
                self._faulted[prompt] += 1
                self.injected[query][kind] += 1 if kind in TRANSPORT_FAULTS else n
        return fault_reply(kind, body, right, self.slow_s)


def fault_reply(kind: str | None, body: dict[str, Any], right: int, slow_s: float = 1.0) -> Reply:
    """The reply of one fault kind (None: a well-formed verdict `right`) to a request `body`."""
    n = body.get("n", 1)
    wrong = 3 - right
    good = [rrm_choice(right) for _ in range(n)]
    decoy = f"Option \\boxed{{Assistant {wrong}}} looks tempting.\n</think>\n\n\\boxed{{Assistant {right}}}"
    replies = {
        None: Reply(choices=good),
        "500": Reply(status=500, error="internal error"),
        "429": Reply(status=429, headers={"Retry-After": "0"}, error="rate limited"),
        "drop": Reply(drop=True),
        "slow": Reply(choices=good, delay_s=slow_s),
        "malformed": Reply(body=json.dumps(_completion(body, good)).encode()[:40]),
        # cut off at the token limit: no </think>, and a box in the unfinished reasoning
        "cut_off": Reply(choices=[Choice(f"Hmm, \\boxed{{Assistant {wrong}}}, or", finish_reason="length")] * n),
        "no_verdict": Reply(choices=[Choice("Thinking.\n</think>\n\nBoth have merit.")] * n),
        "decoy": Reply(choices=[Choice(decoy)] * n),
        "decoy_reasoning": Reply(
            choices=[Choice(f"\\boxed{{Assistant {right}}}", reasoning=f"\\boxed{{Assistant {wrong}}}</think>")] * n
        ),
    }
    return replies[kind]
