"""A selection's picture: what the page holds, that hostile text stays text, and what a person
sees of it in a real browser (Debian's Chromium, headless)."""

from __future__ import annotations

import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import html5lib
import pytest
from browser_support import parse_strictly, screenshot_path
from conftest import prefer_quality
from fake_openai import FakeOpenAIServer

from rrm_select import EloSelector, KnockoutSelector, ScriptedJudge, Selection, SwissSelector
from rrm_select.answers import number
from rrm_select.cli import main
from rrm_select.types import Match, Usage, Vote
from rrm_select.views.html import NOTEBOOK_CHARS, SHOWN_CHARS
from rrm_select.views.selection import stages

HOSTILE = '<script>alert("pwned")</script><img src=x onerror=alert(1)> 17 × 24 = 407 \u202eevil reversed'
CANDIDATES = [
    "17 × 24 = 408. Work: 17 × 20 = 340 and 17 × 4 = 68, so 340 + 68 = 408.",
    "It is 398.",
    "17 × 24 = 408",
    HOSTILE,
    "24 × 17: 24 × 10 = 240, 24 × 7 = 168, total 418.",
    "The product is 408 (17 × 24).",
    "About 400.",
    "408, since 17 × 25 = 425 and 425 − 17 = 408.",
]


def correctness(text: str) -> float:
    """The scripted judge's taste: a right answer, then the shown work."""
    return ("408" in text) * 10 + len(text) / 100


def judge(**options: object) -> ScriptedJudge:
    return ScriptedJudge.by_score(correctness, accuracy=0.8, seed=4, **options)


def dom(page: str) -> ET.Element:
    return html5lib.parse(page, namespaceHTMLElements=False)


def by_class(root: ET.Element, name: str) -> list[ET.Element]:
    return [e for e in root.iter() if name in (e.get("class") or "").split()]


def text_of(element: ET.Element) -> str:
    return "".join(element.itertext())


@pytest.fixture(scope="module")
def knockout() -> Selection:
    return KnockoutSelector(judge(), votes=3).select("What is 17 × 24?", CANDIDATES, seed=3)


@pytest.fixture(scope="module")
def finals() -> Selection:
    return KnockoutSelector(judge(), votes=4, finalists=4, order="both").select("What is 17 × 24?", CANDIDATES, seed=3)


def test_a_knockout_draws_every_match_with_its_split_and_winner(knockout: Selection) -> None:
    page = knockout.to_html()
    root = dom(page)
    cards = by_class(root, "match")
    assert len(cards) == len(knockout.matches) == 7
    for match in knockout.matches:
        (card,) = [c for c in cards if {c.get("data-a"), c.get("data-b")} == {str(match.a), str(match.b)}]
        assert card.get("data-winner") == str(match.winner)
        (winner,) = by_class(card, "winner")
        assert text_of(winner).startswith(f"#{match.winner}")
        assert text_of(by_class(winner, "votes-won")[0]) == str(max(match.wins))
        summary = text_of(card.find(".//details/summary"))
        assert summary.startswith(f"{len(match.votes)} votes")
        for vote in match.votes:  # the order each vote saw, and its verdict
            assert f"Assistant 1 = #{vote.first}, Assistant 2 = #{vote.second}" in text_of(card)
    rounds = [s.rounds for s in stages(knockout)]
    assert len(rounds) == 1 and [len(r) for r in rounds[0]] == [4, 2, 1] and "Final" in page
    (champion,) = [row for row in root.iter("tr") if "winner" in (row.get("class") or "")]
    assert text_of(champion).startswith(f"1#{knockout.best_index}")


def test_finalists_show_ratings_with_standard_errors_and_the_win_matrix(finals: Selection) -> None:
    root = dom(finals.to_html())
    assert [s.title for s in stages(finals)] == ["Knockout", "Round robin of the 4 finalists"]
    (table,) = [t for s in by_class(root, "standings") for t in s.iter("table")]
    rows = [[text_of(td) for td in tr.iter("td")] for tr in table.find("tbody")]
    assert [row[1] for row in rows] == [f"#{i}" for i in finals.ranking[:4]]  # the selector's order
    assert all(re.fullmatch(r"[\d,]+ ± [\d.]+", row[3]) for row in rows)
    final_votes = [v for m in finals.matches if m.round == max(m.round for m in finals.matches) for v in m.votes]
    assert sum(float(cell) for row in rows for cell in row[5:] if cell != "·") == sum(
        v.verdict is not None for v in final_votes
    )
    svg = "{http://www.w3.org/2000/svg}"  # html5lib keeps SVG in its own namespace
    assert root.find(f".//{svg}svg/{svg}title") is not None and len(root.findall(f".//{svg}svg/{svg}rect")) == 4


def test_an_elo_page_rates_as_the_selector_did_and_swiss_is_standings_too() -> None:
    elo = EloSelector(judge(), votes=2).select("q", CANDIDATES[:5], seed=1)
    body = dom(elo.to_html()).find(".//div[@class='standings']//tbody")
    rows = [[text_of(td) for td in tr.iter("td")] for tr in body]
    for row in rows:  # the view's own Bradley-Terry fit gives the selector's ratings
        assert row[3].split(" ± ")[0] == f"{elo.scores[int(row[1][1:])]:,.0f}"
    swiss = SwissSelector(judge(), votes=2).select("q", CANDIDATES, seed=1)
    (stage,) = stages(swiss)
    assert stage.title.startswith("Swiss") and not stage.knockout
    assert len(by_class(dom(swiss.to_html()), "match")) == len(swiss.matches)


def test_the_standings_follow_the_selections_ranking_and_a_play_off_is_its_own_stage() -> None:
    strong_prior = EloSelector(judge(), votes=2, prior=2.0).select("q", CANDIDATES[:6], seed=1)
    body = dom(strong_prior.to_html()).find(".//div[@class='standings']//tbody")
    assert [text_of(tr[1]) for tr in body] == [f"#{i}" for i in strong_prior.ranking]
    assert "winner" in (body[0].get("class") or "")
    by_answer = EloSelector(judge(), votes=1, answer_key=number(), within_answer="judge")
    played_off = by_answer.select("q", CANDIDATES, seed=1)
    robin, play_off = stages(played_off)
    assert robin.title == "Round robin" and play_off.title.startswith("Play-off among the")
    assert play_off.knockout and play_off.final and len(play_off.rounds[-1]) == 1
    answers = played_off.answers
    assert all(answers[m.a] == answers[m.b] == answers[played_off.best_index] for r in play_off.rounds for m in r)
    assert all(m.round == 1 for r in robin.rounds for m in r)


def test_forced_votes_and_answer_groups_are_marked() -> None:
    forced = KnockoutSelector(judge(reasoning_tokens=6, thinking_budget=3), votes=3, answer_key=number())
    result = forced.select("What is 17 × 24?", CANDIDATES, seed=2)
    assert result.usage.forced_votes > 0 and result.answers is not None
    root = dom(result.to_html())
    for card in by_class(root, "match"):
        tags = [text_of(t) for t in by_class(card, "tag")]
        a, b = int(card.get("data-a")), int(card.get("data-b"))
        (match,) = [m for m in result.matches if (m.a, m.b) == (a, b)]
        forced = [t for t in tags if t.endswith("forced at the thinking budget")]
        expected = f"{sum(v.forced for v in match.votes)} forced at the thinking budget"
        assert forced == ([expected] if match.votes else [])
        assert {f"answer {result.answers[a]}", f"answer {result.answers[b]}"} <= set(tags)


def test_hostile_text_is_shown_as_isolated_text_and_long_text_is_cut_in_the_view_only() -> None:
    long = "\x1b[31mred\x1b[0m \x00 \ufdd0 " + "x" * (SHOWN_CHARS + 5_000)  # controls no page may hold
    reasoning = 'the first says <script>alert("again")</script>\u202e and the second'
    vote = Vote(first=0, second=1, verdict=2, answer="\\boxed{Assistant 2}", reasoning=reasoning,
                finish_reason="stop", latency_s=0.1)  # fmt: skip
    match = Match(a=0, b=1, round=1, votes=(vote,), winner=1, decided_by="majority")
    result = Selection(query=HOSTILE, candidates=(long, HOSTILE), method="knockout", best_index=1, ranking=(1, 0),
                       scores=(1.0, 2.0), matches=(match,), usage=Usage(votes=1), seed=0)  # fmt: skip
    page = result.to_html()
    parse_strictly(page)
    assert not re.search(r"<(script|img)", page, re.IGNORECASE)
    assert "&lt;script&gt;alert(&quot;pwned&quot;)" in page and "&lt;script&gt;alert(&quot;again&quot;)" in page
    root = dom(page)
    attributes = {name for element in root.iter() for name in element.attrib}
    assert not {"src", "href"} & attributes and not [name for name in attributes if name.startswith("on")]
    isolated = "".join(text_of(b) for b in root.iter("bdi"))
    assert isolated.count("\u202e") == page.count("\u202e") == text_of(root).count("\u202e") > 0
    assert f"{len(long) - SHOWN_CHARS:,} more characters" in page and result.candidates[0] == long
    assert "␛[31mred␛[0m ␀ \ufffd" in page  # the controls shown as symbols, the page still strict HTML5
    assert f"{len(long) - NOTEBOOK_CHARS:,} more characters" in result._repr_html_()  # a notebook keeps less
    assert 'http-equiv="Content-Security-Policy"' in page and "default-src 'none'" in page


def test_every_kind_of_page_parses_strictly_and_the_notebook_gets_a_fragment(
    knockout: Selection, finals: Selection
) -> None:
    lone = KnockoutSelector(judge()).select("q", ["only one"])
    more = [
        SwissSelector(judge()).select("q", CANDIDATES[:3], seed=0),
        EloSelector(judge(), rating="online_elo").select("q", CANDIDATES[:4], seed=0),
        KnockoutSelector(judge(), votes=3, budget=4).select("q", CANDIDATES, seed=0),  # stopped early
        KnockoutSelector(judge(), finalists=8).select("q", CANDIDATES[:5], seed=0),  # every one a finalist
        KnockoutSelector(judge(), answer_key=number(), within_answer="judge").select("q", CANDIDATES, seed=0),
    ]
    assert more[2].stopped_early == "budget"
    for result in (knockout, finals, lone, *more):
        parse_strictly(result.to_html())
        parse_strictly(f"<!DOCTYPE html><title>cell</title>{result._repr_html_()}")
    assert "No match was played" in lone.to_html()
    cell = knockout._repr_html_()
    assert cell.startswith('<div class="rrm"><style>') and "<html" not in cell and "<script" not in cell
    assert by_class(dom(cell), "match")


def test_the_views_load_only_when_a_picture_is_asked_for() -> None:
    code = (
        "import sys\n"
        "from rrm_select import KnockoutSelector, ScriptedJudge\n"
        "result = KnockoutSelector(ScriptedJudge.by_score(len)).select('q', ['a', 'bb', 'ccc'])\n"
        "assert not [m for m in sys.modules if m.startswith('rrm_select.views')], 'loaded early'\n"
        "assert '<svg' not in result.to_html() and 'rrm_select.views.selection' in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_the_select_command_writes_the_page(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    files = []
    for i, text in enumerate(["low 1", "best 9", "mid 5", "<b>bold 2</b>"]):
        files.append(tmp_path / f"c{i}.txt")
        files[-1].write_text(text)
    out = tmp_path / "deep" / "selection.html"
    with FakeOpenAIServer(prefer_quality) as server:
        select = ["select", "--query", "q", *map(str, files), "--model", "hosted_vllm/judge", "--api-base",
                  server.api_base]  # fmt: skip
        assert main([*select, "--html", str(out)]) == 2  # its folder does not exist: said before judging
        assert "--html: there is no folder" in capsys.readouterr().err and not server.requests
        out.parent.mkdir()
        assert main([*select, "--html", str(out), "--votes", "3"]) == 0
    assert capsys.readouterr().out.startswith("best: [1] best 9")
    page = out.read_text(encoding="utf-8")
    parse_strictly(page)
    assert "#1 won" in page and len(by_class(dom(page), "match")) == 3 and "&lt;b&gt;bold 2&lt;/b&gt;" in page


def test_a_person_sees_the_bracket_the_winner_and_the_hostile_text(
    browser, knockout: Selection, tmp_path: Path
) -> None:
    path = tmp_path / "knockout.html"
    path.write_text(knockout.to_html(), encoding="utf-8")
    page = browser.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(path.as_uri())
    matches = page.locator(".match")
    assert matches.count() == 7 and all(matches.nth(i).is_visible() for i in range(7))
    final = page.locator(".round").last
    assert final.locator("h3").inner_text() == "Final"
    champion = final.locator(".slot.winner")
    assert champion.inner_text().startswith(f"#{knockout.best_index}")
    assert champion.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(227, 244, 225)"
    hostile = page.locator("table summary bdi.text", has_text='<script>alert("pwned")</script>')
    assert hostile.is_visible() and page.evaluate("document.querySelectorAll('script, img').length") == 0
    # The judge's words are one click away.
    first = matches.first.locator("details").first
    first.locator(":scope > summary").click()
    assert first.locator("ol.vote-list li").first.is_visible()
    assert "Assistant 1 = #" in first.locator("ol.vote-list li").first.inner_text()
    page.screenshot(path=screenshot_path("selection-knockout.png"), full_page=True)
    assert not dialogs


def test_a_person_sees_the_finalists_ratings(browser, finals: Selection, tmp_path: Path) -> None:
    path = tmp_path / "finals.html"
    path.write_text(finals.to_html(), encoding="utf-8")
    page = browser.new_page()
    page.goto(path.as_uri())
    chart = page.locator(".standings svg")
    assert chart.is_visible() and chart.bounding_box()["width"] > 300
    rows = page.locator(".standings tbody tr")
    assert rows.count() == 4 and "winner" in (rows.first.get_attribute("class") or "")
    assert rows.first.locator("td").nth(1).inner_text() == f"#{finals.best_index}"
    page.locator(".standings").screenshot(path=screenshot_path("selection-ratings.png"))
