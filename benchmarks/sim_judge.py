"""A simulated RRM judge on loopback: OpenAI-compatible, with set latency, capacity and accuracy.

    python benchmarks/sim_judge.py --port 8000 --latency lognormal --median 2 --sigma 1 --accuracy 0.8

`POST /v1/chat/completions` reads the two candidates out of the RRM prompt, each carrying a
hidden quality score in its text (``"Candidate 7 (quality 0.41)."``), and answers `n` samples in
the RRM shape (``reasoning</think>`` then ``\\boxed{Assistant K}``), each preferring the better
candidate with probability `accuracy`. Each request waits for a latency drawn from the profile
(one draw per request: the `n` samples of a request are generated together), after taking one
of `capacity` serving slots; requests beyond capacity queue.

Latency and verdicts are drawn from a generator seeded by (seed, prompt, how many times this
prompt was seen), not by arrival order: two runs that send the same prompts meet the same
latencies (a paired comparison, e.g. with and without hedging), while a repeated prompt (a
hedge, a retry) gets a fresh draw.

The thinking model (``Profile(thinking=True)``; see `thinking_accuracy`). Each sample reasons
for a length of L tokens drawn for it (lognormal, its median longer for closer pairs; see
`reasoning_median`), then answers; it prefers the better candidate with a probability that grows
with the reasoning tokens it spent and with the pair's quality gap. A sample given fewer tokens
than L (a thinking budget) answers from those, and is less often right. Its output is the RRM
shape with one token per word: ``"s3.1 t t t ... t </think>\\n\\n\\\\boxed{Assistant K}"``, L
reasoning tokens (the first one tags the sample, see below) and three answer tokens, so token
counts are exact (`tokens_of`). Requests may set

- ``max_tokens``: a sample longer than that is cut there (finish_reason "length"; cut in its
  reasoning it has no ``</think>``: a lost vote);
- ``thinking_token_budget`` (vLLM's server-side forcing): reasoning longer than that is cut at
  the budget, closed with ``</think>`` and answered from the budget's tokens. A server whose
  profile has ``reasoning_config=False`` refuses it with vLLM's HTTP 400.

`POST /v1/completions` takes the prompt rendered in the DeepSeek-R1 layout (ending in
``<｜Assistant｜><think>\\n``) and answers in the completions shape (``choices[i].text``), which is
how a client forces a budget itself: it asks for at most T tokens, then sends the prompt, the
sample's text and ``"\\n</think>\\n\\n"`` back for the answer. The server recognises a
continuation (text after the prompt's last ``<think>\\n``), counts the reasoning tokens it holds
and answers as the same sample would with that many: a sample's draws (its length L and the
uniform that decides whether it is right at any given tokens) come from a generator seeded by
(seed, prompt, times the prompt was seen, sample index), and the reasoning's first token
(``s<times seen>.<index>``) names them, so a continuation is the exact sequel of its start. The
prompt is the user turn on both endpoints (the chat request's last message, the text after
``<｜User｜>`` of a rendered prompt), so a client forcing the budget meets the same samples, and
verdicts, as the server forcing it; a sample's uniform is the same at any budget, so a longer
budget only ever turns a wrong verdict right (paired comparisons across budgets). A
continuation still reasoning (no ``</think>``) reasons on to its length; one cut in its answer
gets the rest of it. Usage: ``prompt_tokens`` 1000 per request (plus the reasoning and answer
text a continuation's prompt holds), ``completion_tokens`` the tokens of every sample, and on
the chat endpoint ``completion_tokens_details.reasoning_tokens``, their reasoning tokens summed
over the choices, as vLLM reports them with a reasoning parser (``split_reasoning=True`` also
splits each message into ``reasoning_content`` and ``content`` as that parser does).

`GET /stats` returns what the server saw (requests, votes, peak concurrency; with the thinking
model also continuations, prompt, completion and reasoning tokens, samples cut at max_tokens,
and samples whose reasoning was closed before its length: forced, by either side); `POST /reset`
with a `Profile` as JSON sets a new profile and zeroes the counters, so one server process serves
a whole benchmark run. `SimJudge` runs this script as a child process (so that the server does
not share the client's event loop or CPU core) and wraps both calls.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import subprocess
import sys
import urllib.request
import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal, Self

import numpy as np
from aiohttp import web

_ANSWERS = re.compile(r"### Assistant 1\n\n(?P<a>.*)\n\n\n### Assistant 2\n\n(?P<b>.*)\n\n## Analysis", re.DOTALL)
_QUALITY = re.compile(r"\(quality (-?[0-9.]+)\)")
_TAG = re.compile(r"s(?P<seen>[0-9]+)\.(?P<index>[0-9]+)")

R1_USER, R1_ASSISTANT, THINK, THINK_END = "<｜User｜>", "<｜Assistant｜>", "<think>\n", "</think>"
NO_REASONING_CONFIG = (
    "thinking_token_budget is set but reasoning_config is not configured. Please set --reasoning-parser "
    "and/or --reasoning-config to use thinking_token_budget."
)
BASE_PROMPT_TOKENS = 1000
UNLIMITED = 1 << 30


def candidate_text(index: int, quality: float) -> str:
    """A candidate whose hidden quality the simulated judge can read back."""
    return f"Candidate {index} (quality {quality:.6f})."


def split_prompt(prompt: str) -> tuple[str, str]:
    """The two candidate texts as the RRM prompt (the user turn) shows them."""
    match = _ANSWERS.search(prompt)
    if match is None:
        raise ValueError("not an RRM prompt")
    return match["a"], match["b"]


def quality_of(text: str) -> float:
    match = _QUALITY.search(text)
    if match is None:
        raise ValueError(f"no hidden quality in candidate text {text[:60]!r}")
    return float(match[1])


@dataclass(frozen=True)
class Profile:
    """How the simulated judge behaves; see the module docstring."""

    latency: Literal["fixed", "lognormal"] = "fixed"
    median_s: float = 1.0
    """The fixed latency, or the lognormal's median."""
    sigma: float = 1.0
    """The lognormal's shape: p99 / median = exp(2.33 sigma)."""
    capacity: int | None = None
    """Requests served at once (None: all of them)."""
    accuracy: float = 1.0
    """Each sample's chance to prefer the better candidate (without `thinking`)."""
    seed: int = 0
    thinking: bool = False
    """A thinking judge (the module docstring, `thinking_accuracy`); False: `accuracy` per sample,
    1000 completion tokens each, `max_tokens` ignored (the behaviour before thinking models)."""
    reasoning_config: bool = True
    """Whether the server has a reasoning parser: without one it refuses ``thinking_token_budget``."""
    split_reasoning: bool = False
    """Chat replies of the thinking model as vLLM's reasoning parser gives them (``reasoning_content``
    and the answer in ``content``); False: the whole text in ``content``."""
    lapse: float = 0.03
    """The thinking model's error on pairs however far apart (accuracy tends to 1 - lapse)."""
    skill: float = 4.358
    """The logistic's slope per unit of quality gap at 1024 reasoning tokens."""
    skill_growth: float = 0.5287
    """The slope grows as (tokens / 1024) ** skill_growth."""
    length_far: float = 2000.0
    length_close: float = 8000.0
    """Median reasoning tokens of a far pair (gap >> length_width) and of equal candidates."""
    length_width: float = 0.25
    """The quality gap over which the median falls from length_close towards length_far (e-fold)."""
    length_sigma: float = 0.7
    """The lognormal shape of reasoning lengths around the median."""


def thinking_accuracy(tokens: Any, gap: Any, p: Profile) -> Any:
    """The thinking model's chance that a sample with `tokens` reasoning tokens prefers the better
    of two candidates `gap` apart in quality: lapse + (1 - 2 lapse) / (1 + exp(-beta(t) gap)), with
    the slope beta(t) = skill (t / 1024) ** skill_growth. Equal candidates are a coin at any
    budget and far ones right (1 - lapse) at any; close ones gain most from more tokens.

    With the defaults and qualities uniform in [0, 1] (so gaps of density 2 (1 - gap)), the share
    of samples right at thinking budget T (each reasoning for min(L, T)) is about 0.70 at 512, 0.75
    at 1024, 0.80 at 2048, 0.83 at 4096 and 0.84 at 8192 tokens (0.845 unforced): the RRM paper's
    RewardBench curve for RRM-7B, 75% at 1k to 84% at 8k. Numpy arrays broadcast."""
    beta = p.skill * (np.asarray(tokens, dtype=float) / 1024) ** p.skill_growth
    return p.lapse + (1 - 2 * p.lapse) / (1 + np.exp(-beta * np.asarray(gap, dtype=float)))


def reasoning_median(gap: Any, p: Profile) -> Any:
    """The median length of a sample's reasoning: length_far + (length_close - length_far) e^(-gap /
    length_width) (8000 tokens for equal candidates, 3660 at gap 0.25, 2000 for far ones); each
    sample's length is that times exp(length_sigma z), z standard normal, at least 2 tokens."""
    return p.length_far + (p.length_close - p.length_far) * np.exp(-np.asarray(gap, dtype=float) / p.length_width)


def tokens_of(text: str) -> int:
    """The thinking model's tokens in `text`: one per word."""
    return len(text.split())


@dataclass(frozen=True)
class _Sample:
    """One sample's draws: its tag (the first reasoning token), reasoning length, the uniform that
    decides its verdict, and the pair's gap and better candidate."""

    tag: str
    length: int
    uniform: float
    gap: float
    better: int


def _reasoning(tag: str, tokens: int) -> list[str]:
    return [tag + " "] + ["t "] * (tokens - 1)


def _answer(verdict: int) -> list[str]:
    return [THINK_END + "\n\n", "\\boxed{Assistant ", f"{verdict}}}"]


@dataclass
class _Output:
    """One choice: its text (as pieces, one token each), reasoning tokens, finish reason."""

    pieces: list[str]
    reasoning_tokens: int
    finish_reason: str

    @classmethod
    def cut(cls, pieces: Sequence[str], reasoning_tokens: int, max_tokens: int) -> _Output:
        """`pieces` cut at `max_tokens` (finish_reason "length" if cut)."""
        if len(pieces) <= max_tokens:
            return cls(list(pieces), reasoning_tokens, "stop")
        return cls(list(pieces[:max_tokens]), min(reasoning_tokens, max_tokens), "length")

    @property
    def text(self) -> str:
        return "".join(self.pieces)


class _State:
    """The server's profile, random generator and counters (reset together)."""

    def __init__(self, profile: Profile) -> None:
        self.reset(profile)

    def reset(self, profile: Profile) -> None:
        self.profile = profile
        self.seen: Counter[int] = Counter()
        self.slots = asyncio.Semaphore(profile.capacity) if profile.capacity else None
        # open = received and not answered yet (queued or in service)
        self.counts = dict.fromkeys(["requests", "votes", "in_service", "peak_in_service", "open", "peak_open"], 0)
        if profile.thinking:  # what the thinking model wrote and read, and the samples cut at max_tokens
            more = ["continuations", "prompt_tokens", "completion_tokens", "reasoning_tokens", "cut", "forced"]
            self.counts.update(dict.fromkeys(more, 0))

    def draw(self, prompt: str, n: int) -> tuple[float, list[int]]:
        """A latency and `n` verdicts for this prompt (see the module docstring)."""
        key = zlib.crc32(prompt.encode())
        rng = np.random.default_rng([self.profile.seed, key, self.seen[key]])
        self.seen[key] += 1
        latency = self.latency(rng)
        first, second = split_prompt(prompt)
        better = 1 if quality_of(first) > quality_of(second) else 2
        return latency, [better if right else 3 - better for right in rng.random(n) < self.profile.accuracy]

    def latency(self, rng: np.random.Generator) -> float:
        p = self.profile
        return p.median_s if p.latency == "fixed" else p.median_s * float(np.exp(p.sigma * rng.standard_normal()))

    def sample(self, user: str, seen: int, index: int) -> _Sample:
        """The thinking model's draws for sample `index` of the `seen`-th request of `user`."""
        p = self.profile
        first, second = split_prompt(user)
        q1, q2 = quality_of(first), quality_of(second)
        rng = np.random.default_rng([p.seed, zlib.crc32(user.encode()), seen, index, 1])
        median = reasoning_median(abs(q1 - q2), p)
        length = max(2, round(float(median * np.exp(p.length_sigma * rng.standard_normal()))))
        return _Sample(f"s{seen}.{index}", length, float(rng.random()), abs(q1 - q2), 1 if q1 > q2 else 2)

    def fresh(self, user: str, n: int) -> tuple[float, list[_Sample]]:
        """A latency and `n` thinking samples for a new request of `user` (the module docstring)."""
        key = zlib.crc32(user.encode())
        seen = self.seen[key]
        self.seen[key] += 1
        latency = self.latency(np.random.default_rng([self.profile.seed, key, seen]))
        return latency, [self.sample(user, seen, i) for i in range(n)]

    def verdict(self, sample: _Sample, tokens: int) -> int:
        """The verdict of `sample` answering after `tokens` reasoning tokens."""
        right = sample.uniform < float(thinking_accuracy(min(tokens, sample.length), sample.gap, self.profile))
        return sample.better if right else 3 - sample.better

    def bump(self, key: str, by: int = 1) -> None:
        self.counts[key] += by
        peak = f"peak_{key}"
        if peak in self.counts:
            self.counts[peak] = max(self.counts[peak], self.counts[key])


def make_app(profile: Profile) -> web.Application:
    app = web.Application()
    state = _State(profile)

    async def chat(request: web.Request) -> web.Response:
        body = await request.json()
        n = int(body.get("n") or 1)
        if refused := _refusal(state, body):
            return refused
        state.bump("requests")
        state.bump("votes", n)
        user = body["messages"][-1]["content"]
        if not state.profile.thinking:
            delay, outputs = _plain(state, user, n)
        else:
            delay, samples = state.fresh(user, n)
            outputs = [_answered(state, s, body) for s in samples]
        await _wait(state, delay)
        choices = [{"index": i, "message": _message(state.profile, out), "finish_reason": out.finish_reason}
                   for i, out in enumerate(outputs)]  # fmt: skip
        return web.json_response({
            "id": "chatcmpl-sim", "object": "chat.completion", "created": 0,
            "model": body.get("model", "sim"), "choices": choices,
            "usage": _usage(state, outputs, BASE_PROMPT_TOKENS, reasoning=True),
        })  # fmt: skip

    async def text_completions(request: web.Request) -> web.Response:
        body = await request.json()
        n = int(body.get("n") or 1)
        if refused := _refusal(state, body):
            return refused
        state.bump("requests")
        prompt = body["prompt"]
        head, opened, after = prompt.rpartition(THINK)
        if not opened:
            head, after = prompt, ""
        user = head.rsplit(R1_USER, 1)[1].split(R1_ASSISTANT, 1)[0] if R1_USER in head else head
        prompt_tokens = BASE_PROMPT_TOKENS
        state.bump("votes", n if not after else 0)  # a continuation finishes votes already counted
        if not state.profile.thinking:
            delay, outputs = _plain(state, user, n)
        elif not after:
            delay, samples = state.fresh(user, n)
            outputs = [_answered(state, s, body) for s in samples]
        else:
            state.bump("continuations")
            delay = state.latency(np.random.default_rng([state.profile.seed, zlib.crc32(prompt.encode())]))
            outputs = [_continued(state, user, after, body)] * n
            prompt_tokens += tokens_of(after)
        await _wait(state, delay)
        choices = [{"index": i, "text": out.text, "logprobs": None, "finish_reason": out.finish_reason}
                   for i, out in enumerate(outputs)]  # fmt: skip
        return web.json_response({
            "id": "cmpl-sim", "object": "text_completion", "created": 0,
            "model": body.get("model", "sim"), "choices": choices,
            "usage": _usage(state, outputs, prompt_tokens, reasoning=False),
        })  # fmt: skip

    async def stats(request: web.Request) -> web.Response:
        return web.json_response(state.counts)

    async def reset(request: web.Request) -> web.Response:
        state.reset(Profile(**await request.json()))
        return web.json_response({"ok": True})

    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_post("/v1/completions", text_completions)
    app.router.add_get("/stats", stats)
    app.router.add_post("/reset", reset)
    return app


def _plain(state: _State, user: str, n: int) -> tuple[float, list[_Output]]:
    """A latency and `n` answers of the judge without thinking (right with probability `accuracy`)."""
    delay, verdicts = state.draw(user, n)
    texts = [f"Simulated comparison.\n</think>\n\n\\boxed{{Assistant {v}}}" for v in verdicts]
    return delay, [_Output([text], 0, "stop") for text in texts]


def _refusal(state: _State, body: dict[str, Any]) -> web.Response | None:
    """vLLM's answer to a budget it cannot force (no reasoning parser), else None."""
    if body.get("thinking_token_budget") is None or state.profile.reasoning_config:
        return None
    error = {"message": NO_REASONING_CONFIG, "type": "BadRequestError", "param": None, "code": 400}
    return web.json_response({"error": error}, status=400)


def _answered(state: _State, sample: _Sample, body: dict[str, Any]) -> _Output:
    """A new sample's output: its reasoning (cut at the request's thinking budget, if any) and
    answer, cut at max_tokens."""
    budget = body.get("thinking_token_budget")
    reasoning = sample.length if budget is None else min(sample.length, int(budget))
    state.bump("forced", reasoning < sample.length)
    pieces = _reasoning(sample.tag, reasoning) + _answer(state.verdict(sample, reasoning))
    return _Output.cut(pieces, reasoning, int(body.get("max_tokens") or UNLIMITED))


def _continued(state: _State, user: str, after: str, body: dict[str, Any]) -> _Output:
    """The rest of the sample whose text so far (after the prompt's ``<think>\\n``) is `after`."""
    tag = _TAG.fullmatch(after.split()[0]) if after.split() else None
    if tag is not None:
        sample = state.sample(user, int(tag["seen"]), int(tag["index"]))
    else:  # not the simulator's own text: a draw of its own, keyed by the text
        sample = state.sample(user, 1_000_000 + zlib.crc32(after.encode()), 0)
    reasoning, closed, written = after.partition(THINK_END)
    spent = tokens_of(reasoning)
    max_tokens = int(body.get("max_tokens") or UNLIMITED)
    if closed:  # answer from the reasoning in front of it; what is already written is not repeated
        state.bump("forced", spent < sample.length)
        tail, rest = _answer(state.verdict(sample, spent))[1:], written.lstrip()
        while tail and rest.startswith(tail[0]):
            rest = rest[len(tail.pop(0)) :]
        return _Output.cut(tail, 0, max_tokens)
    budget = body.get("thinking_token_budget")
    total = max(spent, sample.length if budget is None else min(sample.length, int(budget)))
    state.bump("forced", total < sample.length)
    pieces = ["t "] * (total - spent) + _answer(state.verdict(sample, total))
    return _Output.cut(pieces, total - spent, max_tokens)


def _message(profile: Profile, out: _Output) -> dict[str, Any]:
    if not (profile.thinking and profile.split_reasoning):
        return {"role": "assistant", "content": out.text}
    reasoning, closed, answer = out.text.partition(THINK_END)
    return {"role": "assistant", "reasoning_content": reasoning, "content": answer if closed else None}


def _usage(state: _State, outputs: list[_Output], prompt_tokens: int, reasoning: bool) -> dict[str, Any]:
    if state.profile.thinking:
        completion = sum(len(out.pieces) for out in outputs)
    else:
        completion = 1000 * len(outputs)
    usage: dict[str, Any] = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion,
        "total_tokens": prompt_tokens + completion,
    }
    thought = sum(out.reasoning_tokens for out in outputs)
    if state.profile.thinking:
        state.bump("prompt_tokens", prompt_tokens)
        state.bump("completion_tokens", completion)
        state.bump("reasoning_tokens", thought)
        state.bump("cut", sum(out.finish_reason == "length" for out in outputs))
        if reasoning:
            usage["completion_tokens_details"] = {"reasoning_tokens": thought}
    return usage


async def _wait(state: _State, delay: float) -> None:
    state.bump("open")
    try:
        if state.slots is None:
            await _serve(state, delay)
        else:
            async with state.slots:
                await _serve(state, delay)
    finally:
        state.bump("open", -1)


async def _serve(state: _State, delay: float) -> None:
    state.bump("in_service")
    try:
        await asyncio.sleep(delay)
    finally:
        state.bump("in_service", -1)


async def _run(profile: Profile, port: int) -> None:
    runner = web.AppRunner(make_app(profile), access_log=None)
    await runner.setup()
    # A deep backlog: a tournament opens hundreds of connections at the same moment.
    await web.TCPSite(runner, "127.0.0.1", port, backlog=4096).start()
    print(f"simulated judge on http://127.0.0.1:{runner.addresses[0][1]}/v1", flush=True)
    await asyncio.Event().wait()


class SimJudge:
    """The simulated judge in a child process: ``with SimJudge() as sim: sim.reset(Profile(...))``."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[str] | None = None
        self.api_base = ""

    def __enter__(self) -> Self:
        command = [sys.executable, __file__, "--port", "0"]
        self._process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        assert self._process.stdout is not None
        self.api_base = self._process.stdout.readline().split()[-1]
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._process is not None
        self._process.terminate()
        self._process.wait()

    def reset(self, profile: Profile) -> None:
        """Set the profile and zero the counters."""
        self._call("/reset", asdict(profile))

    def stats(self) -> dict[str, int]:
        return self._call("/stats")

    def _call(self, path: str, payload: dict[str, Any] | None = None) -> Any:
        data = None if payload is None else json.dumps(payload).encode()
        url = self.api_base.removesuffix("/v1") + path
        with urllib.request.urlopen(url, data=data, timeout=30) as response:
            return json.load(response)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--latency", choices=["fixed", "lognormal"], default="fixed")
    parser.add_argument("--median", type=float, default=1.0, help="fixed latency or lognormal median, seconds")
    parser.add_argument("--sigma", type=float, default=1.0)
    parser.add_argument("--capacity", type=int, default=None)
    parser.add_argument("--accuracy", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--thinking", action="store_true", help="the thinking model (its default shape)")
    parser.add_argument("--no-reasoning-config", action="store_true", help="refuse thinking_token_budget")
    parser.add_argument("--split-reasoning", action="store_true", help="chat replies as vLLM's reasoning parser's")
    args = parser.parse_args()
    profile = Profile(args.latency, args.median, args.sigma, args.capacity, args.accuracy, args.seed,
                      thinking=args.thinking, reasoning_config=not args.no_reasoning_config,
                      split_reasoning=args.split_reasoning)  # fmt: skip
    asyncio.run(_run(profile, args.port))


if __name__ == "__main__":
    main()
