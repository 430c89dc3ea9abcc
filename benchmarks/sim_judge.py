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

`GET /stats` returns what the server saw (requests, votes, peak concurrency); `POST /reset` with
a `Profile` as JSON sets a new profile and zeroes the counters, so one server process serves a
whole benchmark run. `SimJudge` runs this script as a child process (so that the server does not
share the client's event loop or CPU core) and wraps both calls.
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
from dataclasses import asdict, dataclass
from typing import Any, Literal, Self

import numpy as np
from aiohttp import web

_ANSWERS = re.compile(r"### Assistant 1\n\n(?P<a>.*)\n\n\n### Assistant 2\n\n(?P<b>.*)\n\n## Analysis", re.DOTALL)
_QUALITY = re.compile(r"\(quality (-?[0-9.]+)\)")


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
    seed: int = 0


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

    def draw(self, prompt: str, n: int) -> tuple[float, list[int]]:
        """A latency and `n` verdicts for this prompt (see the module docstring)."""
        key = zlib.crc32(prompt.encode())
        rng = np.random.default_rng([self.profile.seed, key, self.seen[key]])
        self.seen[key] += 1
        p = self.profile
        latency = p.median_s if p.latency == "fixed" else p.median_s * float(np.exp(p.sigma * rng.standard_normal()))
        first, second = split_prompt(prompt)
        better = 1 if quality_of(first) > quality_of(second) else 2
        return latency, [better if right else 3 - better for right in rng.random(n) < p.accuracy]

    def bump(self, key: str, by: int = 1) -> None:
        self.counts[key] += by
        peak = f"peak_{key}"
        if peak in self.counts:
            self.counts[peak] = max(self.counts[peak], self.counts[key])


def make_app(profile: Profile) -> web.Application:
    app = web.Application()
    state = _State(profile)

    async def completions(request: web.Request) -> web.Response:
        body = await request.json()
        n = int(body.get("n") or 1)
        state.bump("requests")
        state.bump("votes", n)
        delay, verdicts = state.draw(body["messages"][-1]["content"], n)
        state.bump("open")
        try:
            if state.slots is None:
                await _serve(state, delay)
            else:
                async with state.slots:
                    await _serve(state, delay)
        finally:
            state.bump("open", -1)
        choices = [
            {
                "index": i,
                "message": {
                    "role": "assistant",
                    "content": f"Simulated comparison.\n</think>\n\n\\boxed{{Assistant {v}}}",
                },
                "finish_reason": "stop",
            }
            for i, v in enumerate(verdicts)
        ]
        usage = {"prompt_tokens": 1000, "completion_tokens": 1000 * n, "total_tokens": 1000 * (n + 1)}
        return web.json_response({
            "id": "chatcmpl-sim", "object": "chat.completion", "created": 0,
            "model": body.get("model", "sim"), "choices": choices, "usage": usage,
        })  # fmt: skip

    async def stats(request: web.Request) -> web.Response:
        return web.json_response(state.counts)

    async def reset(request: web.Request) -> web.Response:
        state.reset(Profile(**await request.json()))
        return web.json_response({"ok": True})

    app.router.add_post("/v1/chat/completions", completions)
    app.router.add_get("/stats", stats)
    app.router.add_post("/reset", reset)
    return app


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
    args = parser.parse_args()
    profile = Profile(args.latency, args.median, args.sigma, args.capacity, args.accuracy, args.seed)
    asyncio.run(_run(profile, args.port))


if __name__ == "__main__":
    main()
