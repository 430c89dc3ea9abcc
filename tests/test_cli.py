"""The rrm-select command against a fake judge server on loopback (real HTTP)."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import prefer_quality, quality
from fake_openai import Choice, FakeOpenAIServer, Reply

from rrm_select.cli import main


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(prefer_quality) as s:
        yield s


def make_rows(count: int) -> list[dict[str, Any]]:
    return [
        {
            "id": f"row-{i}",
            "prompt": f"question {i}",
            "responses": [f"a {i % 3}.1", f"b {i % 5}.2", f"c {(7 * i) % 4}.3", "d 2.5"],
        }
        for i in range(count)
    ]


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def judge_args(server: FakeOpenAIServer) -> list[str]:
    return ["--model", "hosted_vllm/judge", "--api-base", server.api_base]


def test_filter_best_picks_every_rows_best(tmp_path: Path, server: FakeOpenAIServer, capsys) -> None:
    rows = make_rows(12)
    source = write_jsonl(tmp_path / "in.jsonl", rows)
    out = tmp_path / "out.jsonl"
    assert main(["filter", str(source), "-o", str(out), *judge_args(server)]) == 0
    summary = capsys.readouterr().err
    # not a terminal: no live bar, just the summary line
    assert "\r" not in summary and summary.count("\n") == 1
    assert summary.startswith("done: rows 12/12 (0 skipped, 0 rejected)") and "judge requests 36" in summary
    written = read_jsonl(out)
    assert [r["id"] for r in written] == [r["id"] for r in rows]  # input order
    for row, record in zip(rows, written, strict=True):
        assert quality(record["chosen"]) == max(quality(c) for c in row["responses"])
        assert record["query"] == row["prompt"]
    assert len(server.requests) == 12 * 3


def test_filter_pairs_and_ranking(tmp_path: Path, server: FakeOpenAIServer) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", make_rows(4))
    pairs, ranking, margin = tmp_path / "pairs.jsonl", tmp_path / "ranking.jsonl", tmp_path / "margin.jsonl"
    assert main(["filter", str(source), "-o", str(pairs), "--emit", "pairs", *judge_args(server)]) == 0
    assert main(["filter", str(source), "-o", str(ranking), "--emit", "ranking", "--method", "elo",
                 *judge_args(server)]) == 0  # fmt: skip
    assert main(["filter", str(source), "-o", str(margin), "--emit", "pairs", "--method", "elo", "--margin", "100",
                 *judge_args(server)]) == 0  # fmt: skip
    for record in read_jsonl(pairs):
        assert quality(record["chosen"]) > quality(record["rejected"])
    ranked = read_jsonl(ranking)
    for record in ranked:
        qualities = [quality(record["candidates"][i]) for i in record["ranking"]]
        assert qualities == sorted(qualities, reverse=True)
        assert len(record["matches"]) == 6 and all(m["votes"] for m in record["matches"])
    by_row = {}
    for record in read_jsonl(margin):
        assert record["margin"] >= 100 and quality(record["chosen"]) > quality(record["rejected"])
        by_row[record["id"]] = by_row.get(record["id"], 0) + 1
    assert max(by_row.values()) > 1  # every pair above the margin, not just best/worst


def test_inputs_fields_chat_messages_and_parquet(tmp_path: Path, server: FakeOpenAIServer) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [
        {"uid": 7, "conversation": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"},
                                    {"role": "assistant", "content": "hello"}, {"role": "user", "content": "2+2?"}],
         "answers": [{"role": "assistant", "content": "four 4"}, {"role": "assistant", "content": "five 1"}]},
    ]  # fmt: skip
    fields = ["--id-field", "uid", "--query-field", "conversation", "--candidates-field", "answers"]
    out = tmp_path / "out.jsonl"
    assert main(["filter", str(write_jsonl(tmp_path / "in.jsonl", rows)), "-o", str(out), *fields,
                 *judge_args(server)]) == 0  # fmt: skip
    record = read_jsonl(out)[0]
    assert record["id"] == "7" and record["chosen"] == "four 4" and record["query"] == rows[0]["conversation"]
    user_turn = server.requests[-1]["messages"][1]["content"]
    assert "Latest user message:\n\n2+2?" in user_turn and "system: Be brief." in user_turn
    table = pa.Table.from_pylist(make_rows(5))
    pq.write_table(table, tmp_path / "in.parquet")
    assert main(["filter", str(tmp_path / "in.parquet"), "-o", str(tmp_path / "p.jsonl"), *judge_args(server)]) == 0
    assert [r["id"] for r in read_jsonl(tmp_path / "p.jsonl")] == [f"row-{i}" for i in range(5)]


def test_saved_hugging_face_dataset(tmp_path: Path, server: FakeOpenAIServer) -> None:
    import datasets

    datasets.Dataset.from_list(make_rows(4)).save_to_disk(str(tmp_path / "saved"))
    out = tmp_path / "out.jsonl"
    assert main(["filter", str(tmp_path / "saved"), "-o", str(out), *judge_args(server)]) == 0
    written = read_jsonl(out)
    assert [r["id"] for r in written] == [f"row-{i}" for i in range(4)]
    for row, record in zip(make_rows(4), written, strict=True):
        assert quality(record["chosen"]) == max(quality(c) for c in row["responses"])


def test_bad_rows_go_to_rejects_and_the_run_goes_on(tmp_path: Path, server: FakeOpenAIServer) -> None:
    rows = [make_rows(1)[0], {"id": "no-cands", "prompt": "q"}, {"id": "empty", "prompt": "q", "responses": []},
            {"id": "numbers", "prompt": "q", "responses": [1, 2]}, {"id": "q-not-text", "prompt": 5, "responses": ["a"]},
            [1, 2], make_rows(2)[1]]  # fmt: skip
    out = tmp_path / "out.jsonl"
    assert main(["filter", str(write_jsonl(tmp_path / "in.jsonl", rows)), "-o", str(out), *judge_args(server)]) == 0
    assert [r["id"] for r in read_jsonl(out)] == ["row-0", "row-1"]
    rejects = {r["id"]: (r["code"], r["reason"]) for r in read_jsonl(tmp_path / "out.jsonl.rejects.jsonl")}
    assert rejects == {
        "no-cands": ("missing_candidates", "missing candidates field 'responses'"),
        "empty": ("no_candidates", "field 'responses' must be a non-empty list of candidates"),
        "numbers": ("bad_candidate", "candidate 0 is not text (a string, or a message with text content or tool calls)"),
        "q-not-text": ("bad_query", "query must be a string or a list of chat messages"),
        "5": ("not_an_object", "row is not a JSON object"),
    }


def test_dry_run_calls_no_judge(tmp_path: Path, server: FakeOpenAIServer, capsys: pytest.CaptureFixture) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", make_rows(10) + [{"id": "bad"}])
    out = tmp_path / "out.jsonl"
    assert main(["filter", str(source), "-o", str(out), "--dry-run", "--votes", "3", "--order", "per_match",
                 *judge_args(server)]) == 0  # fmt: skip
    report = capsys.readouterr().out
    assert "rows: 10 to judge, 1 would be rejected" in report
    assert "judge requests: 30;" in report and "votes: 90" in report  # per_match: one request a match
    assert "completion tokens: at most 737,280" in report and '"n": 3' in report
    assert server.requests == [] and not out.exists()


def test_the_http_client_writes_what_the_litellm_client_writes(tmp_path: Path, server: FakeOpenAIServer) -> None:
    source = str(write_jsonl(tmp_path / "in.jsonl", make_rows(8)))
    options = ["--emit", "ranking", "--votes", "3", "--no-cache"]
    assert main(["filter", source, "-o", str(tmp_path / "litellm.jsonl"), *options, *judge_args(server)]) == 0
    http = ["--client", "http", "--model", "judge", "--api-base", server.api_base]
    assert main(["filter", source, "-o", str(tmp_path / "http.jsonl"), *options, *http]) == 0
    assert (tmp_path / "http.jsonl").read_bytes() == (tmp_path / "litellm.jsonl").read_bytes()
    assert {r["model"] for r in server.requests} == {"judge"}
    fleet = [*http, "--api-base", server.api_base]
    assert main(["filter", source, "-o", str(tmp_path / "x.jsonl"), *fleet]) == 2


def test_dry_run_counts_texts_as_they_will_be_sent(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    rows = [{"id": "long", "prompt": "q", "responses": ["x" * 100_000, "y" * 100_000]}]
    source = str(write_jsonl(tmp_path / "in.jsonl", rows))

    def estimated_prompt_tokens(*more: str) -> int:
        assert main(["filter", source, "-o", str(tmp_path / "o.jsonl"), "--dry-run", "--model", "m", *more]) == 0
        line = next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("prompt tokens: about "))
        return int(line.split()[3].replace(",", ""))

    whole, cut = estimated_prompt_tokens(), estimated_prompt_tokens("--max-text-chars", "2000")
    as_sent = 2000 + len("\n\n[... 98,000 characters cut ...]\n\n")
    assert whole - cut == pytest.approx(2 * (100_000 - as_sent) / 4, abs=2)  # both candidates, 4 chars a token


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["filter", "missing.jsonl", "-o", "x.jsonl", "--model", "m"], "does not exist"),
        (["filter", "{bad}", "-o", "x.jsonl"], "no judge: set model"),
        (["filter", "{bad}", "-o", "x.jsonl", "--model", "m", "--votes", "0"], "votes must be an integer >= 1"),
        (["filter", "{garbage}", "-o", "x.jsonl", "--model", "m"], "is not valid JSON"),
        (["filter", "{bad}", "-o", "x.jsonl", "--vllm", "m", "--vllm-arg", "nonsense"], "wants KEY=VALUE"),
        (["filter", "{bad}", "-o", "x.jsonl", "--vllm", "m", "--model", "m"], "not both"),
        (["filter", "{bad}", "-o", "x.jsonl", "--model", "m", "--answer", "box"], "'box': want boxed, number, regex:"),
        (["filter", "{bad}", "-o", "x.jsonl", "--model", "m", "--answer", "regex:(x"], "answer regex '(x' does not"),
        (["select", "--query", "q", "{bad}", "--model", "m", "--answer", "json:"], "unknown answer spec 'json:'"),
    ],
)
def test_invalid_input_stops_at_once(
    tmp_path: Path, capsys: pytest.CaptureFixture, argv: list[str], message: str
) -> None:
    write_jsonl(tmp_path / "bad.jsonl", make_rows(1))
    (tmp_path / "garbage.jsonl").write_text('{"id": 1}\n{not json\n')
    argv = [a.replace("{bad}", str(tmp_path / "bad.jsonl")).replace("{garbage}", str(tmp_path / "garbage.jsonl"))
            for a in argv]  # fmt: skip
    os.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_unknown_option_is_a_usage_error(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["filter", "in.jsonl", "-o", "out.jsonl", "--method", "round-robin"])
    assert exit_info.value.code == 2 and "invalid choice: 'round-robin'" in capsys.readouterr().err


def test_unreachable_judge_stops_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from vllm_support import free_port

    source = write_jsonl(tmp_path / "in.jsonl", make_rows(3))
    argv = ["filter", str(source), "-o", str(tmp_path / "o.jsonl"), "--model", "hosted_vllm/judge",
            "--api-base", f"http://127.0.0.1:{free_port()}/v1", "--max-attempts", "2"]  # fmt: skip
    assert main(argv) == 3
    err = capsys.readouterr().err.strip()
    assert err.startswith("rrm-select: judge failed:") and "rerun to resume" in err and "\n" not in err


def test_cache_reuse_switch_method_and_clear(tmp_path: Path, server: FakeOpenAIServer) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", make_rows(5))
    cache = ["--cache", str(tmp_path / "judgments.sqlite")]
    base = ["filter", str(source), *judge_args(server), *cache, "--order", "both"]
    assert main([*base, "-o", str(tmp_path / "k.jsonl")]) == 0
    knockout_requests = len(server.requests)
    assert main([*base, "-o", str(tmp_path / "k2.jsonl")]) == 0
    assert len(server.requests) == knockout_requests  # all reused
    assert (tmp_path / "k2.jsonl").read_bytes() == (tmp_path / "k.jsonl").read_bytes()
    assert main([*base, "-o", str(tmp_path / "e.jsonl"), "--method", "elo"]) == 0
    assert len(server.requests) - knockout_requests == 5 * 2 * (6 - 3)  # only the pairs knockout did not play
    assert main([*base, "-o", str(tmp_path / "e2.jsonl"), "--method", "elo", "--clear-cache"]) == 0
    assert len(server.requests) - knockout_requests == 5 * 2 * (6 - 3) + 5 * 2 * 6
    before = len(server.requests)
    assert main(["filter", str(source), *judge_args(server), "--no-cache", "-o", str(tmp_path / "n.jsonl")]) == 0
    assert len(server.requests) - before == 5 * 3
    assert not (tmp_path / "n.jsonl.cache.sqlite").exists()


def test_select_command(tmp_path: Path, server: FakeOpenAIServer, capsys, monkeypatch) -> None:
    files = []
    for i, text in enumerate(["low 1", "best 9", "mid 5"]):
        files.append(tmp_path / f"c{i}.txt")
        files[-1].write_text(text)
    assert main(["select", "--query", "q", *map(str, files), *judge_args(server)]) == 0
    shown = capsys.readouterr().out
    assert shown.startswith("best: [1] best 9") and "round 2:" in shown
    monkeypatch.setattr(sys, "stdin", io.StringIO('["a 1", "b 3", "c 2"]'))
    assert main(["select", "--query", "q", "--method", "elo", "--json", *judge_args(server)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["best_index"] == 1 and result["ranking"] == [1, 2, 0]
    monkeypatch.setattr(sys, "stdin", io.StringIO("x 1\ny 4\n\nz 2\n"))
    assert main(["select", "--query", "q", "--method", "elo", *judge_args(server)]) == 0
    table = capsys.readouterr().out
    assert table.startswith("best: [1] y 4") and "rank cand  rating" in table


def test_verdict_rule_option(tmp_path: Path, monkeypatch, capsys) -> None:
    # A good box, then a malformed last one: the reference rule reads no verdict, the lenient
    # rule (rrm_select's rule before the reference one became the default) reads the good one.
    answer = Choice("Both.\n</think>\n\n\\boxed{Assistant 2} and so \\boxed{Assistant")
    with FakeOpenAIServer(lambda body: Reply(choices=[answer] * body.get("n", 1))) as fake:
        for rule, abstained in (("reference", 1), ("lenient", 0)):
            monkeypatch.setattr(sys, "stdin", io.StringIO('["a", "b"]'))
            options = ["--json", "--max-attempts", "1", "--verdict-rule", rule, *judge_args(fake)]
            assert main(["select", "--query", "q", *options]) == 0
            assert json.loads(capsys.readouterr().out)["usage"]["abstentions"] == abstained


def _run_cli(args: list[str], **popen: Any) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "rrm_select", *args], env=env, stderr=subprocess.PIPE, **popen)


def test_selection_options(tmp_path: Path, server: FakeOpenAIServer, capsys: pytest.CaptureFixture) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", make_rows(6))
    out = tmp_path / "out.jsonl"
    waves = ["--votes", "3", "--order", "per_match", "--early-stop", "decided"]
    assert main(["filter", str(source), "-o", str(out), "--no-cache", *waves, *judge_args(server)]) == 0
    # A unanimous judge: every match ends after its first wave of two votes.
    assert [r["n"] for r in server.requests] == [2] * 18
    assert "judge requests 18" in capsys.readouterr().err
    both = tmp_path / "both.jsonl"
    assert main(["filter", str(source), "-o", str(both), "--no-cache", "--order", "both", *judge_args(server)]) == 0
    assert "order flips 0.0% of 18" in capsys.readouterr().err
    files = [tmp_path / f"c{q}.txt" for q in (3, 9, 1, 4)]
    for path in files:
        path.write_text(f"answer {path.stem[1:]}")
    select = ["select", "--query", "q", *map(str, files), *judge_args(server)]
    assert main([*select, "--budget", "1", "--finalists", "4"]) == 0
    shown = capsys.readouterr().out
    assert "stopped early (budget): the best so far" in shown and "unplayed" in shown
    assert main([*select, "--method", "swiss", "--seed", "1"]) == 0
    assert capsys.readouterr().out.startswith("best: [1] answer 9\n\nrank cand  rating")
    assert main([*select, "--finalists", "3"]) == 2
    assert "finalists must be a power of two" in capsys.readouterr().err
    # order "both" needs two calls a match: rows a budget of one cannot judge are rejected.
    tight = tmp_path / "tight.jsonl"
    assert main(["filter", str(source), "-o", str(tight), "--order", "both", "--budget", "1", *judge_args(server)]) == 0
    assert not read_jsonl(tight)
    reasons = {(r["code"], r["reason"]) for r in read_jsonl(tmp_path / "tight.jsonl.rejects.jsonl")}
    assert reasons == {("over_budget", "a budget of 1 judge calls cannot pay for a single match")}


def test_token_budget(tmp_path: Path, server: FakeOpenAIServer, capsys: pytest.CaptureFixture) -> None:
    files = [tmp_path / f"c{q}.txt" for q in (3, 9, 1, 4)]
    for path in files:
        path.write_text(f"answer {path.stem[1:]}")
    select = ["select", "--query", "q", *map(str, files), *judge_args(server)]
    # One token: the first round goes out (nothing is spent yet), the final does not.
    assert main([*select, "--token-budget", "1"]) == 0
    shown = capsys.readouterr().out
    assert "stopped early (tokens: " in shown and "judge tokens spent): the best so far" in shown
    assert "unplayed" in shown and len(server.requests) == 2
    assert main([*select, "--token-budget", "0"]) == 2
    assert "token_budget must be an integer >= 1" in capsys.readouterr().err


def test_sigkill_and_resume_give_the_uninterrupted_file(tmp_path: Path) -> None:
    def slow(body: dict[str, Any]) -> Reply:
        time.sleep(0.02)
        return prefer_quality(body)

    rows = make_rows(60) + [{"id": "bad", "prompt": "q"}] + make_rows(80)[60:]
    source = write_jsonl(tmp_path / "in.jsonl", rows)
    with FakeOpenAIServer(slow) as server:
        common = [str(source), "--emit", "ranking", "--votes", "2", "--concurrency", "4", "--rows-in-flight", "8",
                  *judge_args(server)]  # fmt: skip
        clean = _run_cli(["filter", "-o", str(tmp_path / "clean.jsonl"), *common])
        assert clean.wait(timeout=300) == 0
        out = tmp_path / "out.jsonl"
        kills = 0
        for target in (10, 45):  # kill twice, at different depths
            proc = _run_cli(["filter", "-o", str(out), *common])
            while not out.exists() or out.read_text().count("\n") < target:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                time.sleep(0.05)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
        final = _run_cli(["filter", "-o", str(out), *common])
        assert final.wait(timeout=300) == 0
    assert kills == 2
    assert out.read_bytes() == (tmp_path / "clean.jsonl").read_bytes()
    assert [r["id"] for r in read_jsonl(out)] == [r["id"] for r in rows if r["id"] != "bad"]
    assert read_jsonl(tmp_path / "out.jsonl.rejects.jsonl") == read_jsonl(tmp_path / "clean.jsonl.rejects.jsonl")
    # the statistics beside the output resume by their own rule to the same bytes
    assert (tmp_path / "out.jsonl.stats.jsonl").read_bytes() == (tmp_path / "clean.jsonl.stats.jsonl").read_bytes()


def test_progress_line_on_a_terminal() -> None:
    from rrm_select.filter.job import FilterStats
    from rrm_select.filter.progress import ProgressLine
    from rrm_select.types import Usage

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen = Terminal()
    line = ProgressLine(screen, per_second=1000)
    stats = FilterStats(total=10, written=4, rejected=1, usage=Usage(requests=12, prompt_tokens=900, retries=2))
    stats.started -= 5.0  # five seconds in
    line(stats)
    shown = screen.getvalue()
    assert shown.startswith("\r\x1b[2K") and "rows 5/10 (0 skipped, 1 rejected) 1.0 rows/s" in shown
    assert "judge requests 12, tokens 900, failures 2" in shown and "ETA 0m05s" in shown
    line.finish()
    assert screen.getvalue().endswith("\r\x1b[2K")
