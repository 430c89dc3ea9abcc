"""A planted API key must never show up in traces, logs, caches, exceptions or the CLI's output,
through the happy path, transient faults and refusals that echo the key back."""

from __future__ import annotations

import logging
import secrets
import subprocess
import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_openai import CONTENT_FAULTS, FakeOpenAIServer, FaultInjector, Reply
from test_cli import make_rows, write_jsonl
from test_faults import by_quality

from rrm_select import JudgeError, JudgmentCache, KnockoutSelector, LiteLLMJudge, RetryPolicy
from rrm_select.cli import main

KEY = f"sk-planted-{secrets.token_hex(12)}"
POLICY = RetryPolicy(max_attempts=4, initial_backoff_s=0.001, max_backoff_s=0.01)


def echoes_key(status: int) -> Reply:
    """A server that quotes the key it got in its error (some proxies do)."""
    return Reply(status=status, error=f"Incorrect API key provided: {KEY}. Authorization: Bearer {KEY}")


def exception_texts(exc: BaseException) -> Iterator[str]:
    """str, repr and the printed traceback of an exception and of everything chained to it."""
    yield "".join(traceback.format_exception(exc))
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield str(exc)
        yield repr(exc)
        yield repr(getattr(exc, "__dict__", {}))
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]


def files_under(folder: Path) -> Iterator[tuple[Path, bytes]]:
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            yield path, path.read_bytes()


def test_the_library_never_records_the_key(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy"):  # litellm's own loggers, at their chattiest
        caplog.set_level(logging.DEBUG, logger=name)
    injector = FaultInjector(by_quality, rate=0.3, seed=5, kinds=("500", "429", "drop", "malformed", *CONTENT_FAULTS))
    texts: list[str] = []
    with FakeOpenAIServer(injector) as server:
        judge = LiteLLMJudge("hosted_vllm/judge", api_base=server.api_base, api_key=KEY, retry=POLICY)
        judge.cache = JudgmentCache(tmp_path / "cache.sqlite")
        rows = make_rows(6)
        results = KnockoutSelector(judge, votes=3, seed=0).select_many(
            [r["prompt"] for r in rows], [r["responses"] for r in rows]
        )
        texts += [r.model_dump_json() for r in results] + [repr(r) for r in results]
        texts += [repr(judge), judge.name, judge.fingerprint]
        sent = list(server.authorizations)
    assert injector.total() > 0 and sum(r.usage.retries for r in results) > 0  # the error paths ran too
    for status in (401, 403, 500, 503):  # refused at once, or down for good
        with FakeOpenAIServer(lambda body, status=status: echoes_key(status)) as server:
            refusing = LiteLLMJudge("hosted_vllm/judge", api_base=server.api_base, api_key=KEY, retry=POLICY)
            with pytest.raises(JudgeError) as info:
                KnockoutSelector(refusing, seed=0).select("q", ["a 1", "b 2"])
            sent += server.authorizations
        texts += exception_texts(info.value)
        assert "Incorrect API key provided" in str(info.value)  # the cause is kept, the key is not
    judge.cache.close()
    assert sent and all(header == f"Bearer {KEY}" for header in sent)  # the key really went out
    captured = capfd.readouterr()
    texts += [caplog.text, captured.out, captured.err]
    texts += [data.decode("utf-8", "replace") for _, data in files_under(tmp_path)]  # cache db, WAL, ...
    assert caplog.records  # logging really was captured
    leaks = [
        (i, text[max(0, text.find(KEY) - 200) : text.find(KEY) + 50]) for i, text in enumerate(texts) if KEY in text
    ]
    assert not leaks, leaks


def test_the_cli_never_prints_or_writes_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture
) -> None:
    from test_cli import _run_cli

    monkeypatch.setenv("PLANTED_JUDGE_KEY", KEY)
    key_args = ["--api-key-env", "PLANTED_JUDGE_KEY", "--max-attempts", "3"]
    source = write_jsonl(tmp_path / "in.jsonl", make_rows(5))
    (tmp_path / "c.txt").write_text("candidate 1")
    (tmp_path / "d.txt").write_text("candidate 2")
    files = [str(tmp_path / "c.txt"), str(tmp_path / "d.txt")]
    injector = FaultInjector(by_quality, rate=0.3, seed=2, kinds=("500", "429", "drop", "malformed", "no_verdict"))
    outputs: list[str] = []
    # One real process (its own stdout, stderr and files) ...
    with FakeOpenAIServer(injector) as server:
        args = ["filter", str(source), "-o", str(tmp_path / "out.jsonl"), "--emit", "ranking"]
        proc = _run_cli([*args, "--model", "hosted_vllm/judge", "--api-base", server.api_base, *key_args],
                        stdout=subprocess.PIPE)  # fmt: skip
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()[-2000:]
        sent = list(server.authorizations)
    outputs += [out.decode(), err.decode()]
    # ... and the other commands and failure paths in this process (cheaper), with every log at
    # DEBUG (litellm logs each request it sends at that level).
    for name in ("", "LiteLLM", "LiteLLM Router", "LiteLLM Proxy"):
        caplog.set_level(logging.DEBUG, logger=name or None)
    runs = [
        (injector, ["select", "--query", "q", *files, "--json"], 0),
        # refusals: a row the judge refuses goes to rejects with the reason; a dead judge stops the run
        (lambda body: echoes_key(401), ["filter", str(source), "-o", str(tmp_path / "refused.jsonl")], 0),
        (lambda body: echoes_key(503), ["filter", str(source), "-o", str(tmp_path / "down.jsonl")], 3),
        (lambda body: echoes_key(401), ["select", "--query", "q", *files], 3),
    ]
    for script, args, code in runs:
        with FakeOpenAIServer(script) as server:
            assert main([*args, "--model", "hosted_vllm/judge", "--api-base", server.api_base, *key_args]) == code
            sent += server.authorizations
        captured = capfd.readouterr()
        outputs += [captured.out, captured.err]
    assert sent and all(header == f"Bearer {KEY}" for header in sent)  # the key really went out
    assert '"best_index": 1' in outputs[2]  # select --json printed the result (amid litellm's debug lines)
    assert "Incorrect API key provided: ***" in (tmp_path / "refused.jsonl.rejects.jsonl").read_text()
    assert "Incorrect API key provided: ***" in outputs[7]  # the error line names the cause, masked
    outputs += [caplog.text, *(data.decode("utf-8", "replace") for _, data in files_under(tmp_path))]
    leaks = [text[max(0, text.find(KEY) - 200) : text.find(KEY) + 50] for text in outputs if KEY in text]
    assert not leaks, leaks
