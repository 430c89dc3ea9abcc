"""`rrm-select report`: the figures of a filter run, checked against the run's own ranking trace;
the statistics file's resume rule; clear errors for bad files; the page in a real browser."""

from __future__ import annotations

import hashlib
import itertools
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import html5lib
import numpy as np
import pytest
from browser_support import parse_strictly, screenshot_path
from conftest import by_quality
from fake_openai import Choice, FakeOpenAIServer, Reply, prompt_text, rrm_choice

from rrm_select import InvalidArgumentError
from rrm_select.calibration.stats import wilson
from rrm_select.cli import main
from rrm_select.filter.dataset import JsonlSink
from rrm_select.filter.row_stats import StatsSink
from rrm_select.filter.run_report import clustered_share

ROWS = 36


def biased(body: dict[str, Any]) -> Reply:
    """A judge with a position bias and a stammer: per sample (seeded by the prompt), 1 in 4 says
    Assistant 1 whatever it saw, 1 in 12 gives no verdict at all (the same again when resampled)."""
    choices = []
    for i in range(body.get("n", 1)):
        draw = int(hashlib.sha256(f"{prompt_text(body)}|{i}".encode()).hexdigest(), 16) % 12
        if draw == 0:
            choices.append(Choice(content="I cannot decide.\n</think>\n\nBoth are fine."))
        else:
            choices.append(rrm_choice(1 if draw <= 3 else by_quality(body)))
    return Reply(choices=choices)


def rows() -> list[Any]:
    judged = [{"id": f"row-{i}", "prompt": f"question {i}",
               "responses": [f"a {i % 3}.1", f"b {i % 5}.2", f"c {(7 * i) % 4}.3", "d 2.5", f"e {i % 7}.4"]}
              for i in range(ROWS)]  # fmt: skip
    bad = [{"id": "no-cands", "prompt": "q"}, [1, 2], {"id": "numbers", "prompt": "q", "responses": [1, 2]}]
    return judged[:10] + bad + judged[10:]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A filter run with --emit ranking, whose output holds every vote to check the report against.
    It runs as a user runs it, in a process of its own (in this one, once any litellm Router
    exists, litellm prices the fake model at 0.0 instead of not at all)."""
    folder = tmp_path_factory.mktemp("run")
    source = folder / "in.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows()))
    with FakeOpenAIServer(biased) as server:
        argv = ["filter", str(source), "-o", str(folder / "out.jsonl"), "--emit", "ranking", "--votes", "3",
                "--order", "alternate", "--model", "hosted_vllm/judge", "--api-base", server.api_base]  # fmt: skip
        subprocess.run([sys.executable, "-m", "rrm_select", *argv], check=True, stderr=subprocess.DEVNULL, timeout=300)
    return folder / "out.jsonl"


def report_of(capsys: pytest.CaptureFixture, *argv: str) -> dict[str, Any]:
    assert main(["report", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_the_figures_are_those_of_the_votes_in_the_output(run: Path, capsys: pytest.CaptureFixture) -> None:
    report = report_of(capsys, str(run))
    traces = read_jsonl(run)
    votes = [v for t in traces for m in t["matches"] for v in m["votes"]]
    valid = [v for v in votes if v["verdict"] is not None]
    flips, pairs, firsts, valids = [], [], [], []  # per row
    for trace in traces:
        row_pairs = row_flips = 0
        for match in trace["matches"]:
            for one, other in itertools.combinations([v for v in match["votes"] if v["verdict"] is not None], 2):
                if one["first"] != other["first"]:
                    row_pairs += 1
                    row_flips += (one["first"] if one["verdict"] == 1 else one["second"]) != (
                        other["first"] if other["verdict"] == 1 else other["second"])  # fmt: skip
        flips.append(row_flips)
        pairs.append(row_pairs)
        row_valid = [v for m in trace["matches"] for v in m["votes"] if v["verdict"] is not None]
        firsts.append(sum(v["verdict"] == 1 for v in row_valid))
        valids.append(len(row_valid))
    assert report["rows"] == ROWS and report["stats_rows"] == ROWS and report["notes"] == []
    assert report["rejects_by_code"] == {"missing_candidates": 1, "not_an_object": 1, "bad_candidate": 1}
    assert report["decided_by"] == dict(Counter(m["decided_by"] for t in traces for m in t["matches"]))
    assert report["votes"] == len(votes) and report["abstentions"] == len(votes) - len(valid) > 0
    assert report["order_pairs"] == sum(pairs) > 0
    assert report["order_flip"] == clustered_share(flips, pairs).model_dump()
    assert report["order_flip"]["estimate"] == sum(flips) / sum(pairs)
    assert report["first_share"] == clustered_share(firsts, valids).model_dump()
    assert report["first_share"]["estimate"] == sum(firsts) / len(valid)
    assert report["first_share"]["low"] > 0.5  # the bias shows, with its interval clear of a half
    assert report["prompt_tokens"] == sum(v["prompt_tokens"] for v in votes)
    assert report["completion_tokens"] == sum(v["completion_tokens"] for v in votes)
    margins = []
    for trace in traces:
        won = lost = 0
        for match in trace["matches"]:
            for vote in match["votes"]:
                if vote["verdict"] is not None and trace["best_index"] in (vote["first"], vote["second"]):
                    chose = vote["first"] if vote["verdict"] == 1 else vote["second"]
                    won, lost = won + (chose == trace["best_index"]), lost + (chose != trace["best_index"])
        margins.append((won - lost) / (won + lost))
    assert sum(report["margins"]) == ROWS
    assert report["margins"][-1] == sum(m == 1.0 for m in margins)
    assert report["margins"][0] == sum(m < 0 for m in margins)
    middle = sorted(margins)[ROWS // 2 - 1 : ROWS // 2 + 1]
    assert report["median_margin"] == pytest.approx(sum(middle) / 2)


def test_the_intervals_cover_as_they_say_where_votes_on_a_row_agree() -> None:
    # Rows whose own Assistant-1 share varies (a judge biased more on some queries than others):
    # counting every vote as independent covers the truth far less often than 95%.
    rng = np.random.default_rng(0)
    covered = naive = 0
    for _ in range(400):
        trials = rng.integers(10, 30, size=40)
        hits = rng.binomial(trials, rng.beta(1, 1, size=40) * 0.6)  # mean share 0.3
        ours, plain = clustered_share(hits.tolist(), trials.tolist()), wilson(hits.sum() / trials.sum(), trials.sum())
        covered += ours.low <= 0.3 <= ours.high
        naive += plain.low <= 0.3 <= plain.high
    assert 0.92 <= covered / 400 <= 0.98 and naive / 400 < 0.8
    assert clustered_share([0, 0], [0, 0]) is None
    assert clustered_share([0, 0, 0], [50, 50, 50]) == wilson(0.0, 3)  # all alike: as many trials as rows


def test_the_text_report_names_the_figures(run: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["report", str(run)]) == 0
    text = capsys.readouterr().out
    assert f"rows: {ROWS} judged, 3 rejected (" in text and "missing_candidates 1" in text
    assert "order flips: " in text and "votes for Assistant 1: " in text and "winner's margin" in text
    assert "cost paid: unknown" in text


def test_a_report_of_a_stopped_run_notes_what_is_missing_and_bad_lines_are_named(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    lines = run.read_text().splitlines(keepends=True)
    torn = tmp_path / "torn.jsonl"
    torn.write_text("".join(lines[:5]) + lines[5][:30])  # no statistics file, no rejects file
    (tmp_path / "torn.jsonl.rejects.jsonl").write_text('{"id": "old", "reason": "row is not a JSON object"}\n')
    report = report_of(capsys, str(torn))
    assert report["rows"] == 5 and report["stats_rows"] == 0 and report["rejects_by_code"] == {"uncoded": 1}
    notes = " | ".join(report["notes"])
    assert "last line is torn" in notes and "no statistics file" in notes
    broken = tmp_path / "broken.jsonl"
    broken.write_text("".join(lines[:2]) + "{not json\n" + "".join(lines[2:4]))
    assert main(["report", str(broken)]) == 2
    assert f"{broken} line 3:" in capsys.readouterr().err
    stats = tmp_path / "s.jsonl"
    stats.write_text('{"id": "x", "votes": "many"}\n')
    assert main(["report", str(run), "--stats", str(stats)]) == 2
    assert f"{stats} line 1: not a row's statistics" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "nothing.jsonl")]) == 2
    assert "no file" in capsys.readouterr().err


def test_the_statistics_file_resumes_beside_the_output(tmp_path: Path) -> None:
    output, path = tmp_path / "o.jsonl", tmp_path / "s.jsonl"

    def beside() -> JsonlSink:
        output.write_text('{"id": "a"}\n{"id": "b"}\n{"id": "c"}\n')  # c: the last row, which a rerun judges again
        return JsonlSink(output)

    # z: a row with statistics and no output record (no pair to emit); y: torn mid-line
    path.write_text('{"id": "z"}\n{"id": "a"}\n{"id": "b"}\n{"id": "c"}\n{"id": "y"')
    out = beside()
    sink = StatsSink(path, beside=out)
    assert out.done == {"a", "b"} and sink.done == {"z", "a", "b"}
    for rid in ("z", "c", "y", "d", "d"):  # as the rerun judges them; d is in the input twice
        sink.write([{"id": rid}])
    sink.close()
    assert [r["id"] for r in read_jsonl(path)] == ["z", "a", "b", "c", "y", "d", "d"]
    path.write_text('{"id": "a"}\n{"id": "b"}')  # whole JSON, but its newline never made it
    assert StatsSink(path, beside=beside()).done == {"a"} and path.read_text() == '{"id": "a"}\n'
    path.write_text('{"id": "a"}\n{not json\n{"id": "b"}\n')
    with pytest.raises(InvalidArgumentError, match=f"{path} line 2: not a row's statistics"):
        StatsSink(path, beside=beside())
    output.unlink()  # a new run: the statistics left from another are not kept
    assert not StatsSink(path, beside=JsonlSink(output)).done and path.read_text() == ""


def test_the_page_parses_and_holds_the_figures(run: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    page_path = tmp_path / "report.html"
    assert main(["report", str(run), "--html", str(page_path)]) == 0
    capsys.readouterr()
    page = page_path.read_text(encoding="utf-8")
    parse_strictly(page)
    root = html5lib.parse(page, namespaceHTMLElements=False)
    assert "<script" not in page and "default-src 'none'" in page
    cells = {"".join(tr[0].itertext()): "".join(tr[1].itertext()) for tr in root.iter("tr") if len(tr) == 2}
    assert cells["rows judged"] == str(ROWS) and cells["rows rejected"] == "3"
    charts = [e for e in root.iter() if e.tag == "{http://www.w3.org/2000/svg}svg"]
    assert [c.find("{http://www.w3.org/2000/svg}title").text for c in charts] == [
        "rejected rows by kind", "matches by kind", "shares with their 95% intervals", "rows by the winner's margin"]


def test_a_person_sees_the_report(browser, run: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    page_path = tmp_path / "report.html"
    assert main(["report", str(run), "--html", str(page_path)]) == 0
    capsys.readouterr()
    page = browser.new_page()
    page.goto(page_path.as_uri())
    assert page.locator("h1").inner_text().startswith("Filter run:")
    assert page.locator("td", has_text="votes for Assistant 1").is_visible()
    charts = page.locator("svg")
    assert charts.count() == 4 and all(charts.nth(i).bounding_box()["height"] > 20 for i in range(4))
    margin_bars = page.locator("h2:has-text(\"winner's margin\") ~ svg").last.locator("rect")
    assert margin_bars.count() == 11
    page.screenshot(path=screenshot_path("report.png"), full_page=True)
