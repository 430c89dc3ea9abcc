"""The settings dict: the same keys and defaults as the `select` command, checked at construction,
merged from layers key by key with the source of each key remembered."""

from __future__ import annotations

import argparse
import re

import pytest

from rrm_select import InvalidArgumentError, KnockoutSelector, LiteLLMJudge, ScriptedJudge, SwissSelector
from rrm_select.filter.cli import build_parser, settings_of
from rrm_select.settings import (
    DEFAULTS,
    JUDGE_KEYS,
    SELECTION_KEYS,
    Settings,
    build_judge,
    build_selector,
    environment_settings,
    resolve,
    settings_from,
)

CLI_ONLY = {"query", "files", "json", "html", "command"}  # what a select command has beside the settings


def select_options() -> dict[str, argparse.Action]:
    parser = build_parser()
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return {a.dest: a for a in commands.choices["select"]._actions if a.dest != "help"}


def test_the_keys_are_the_select_options_with_the_same_defaults() -> None:
    options = select_options()
    # api_key is the one key without an option: a key does not belong on a command line.
    assert set(Settings.model_fields) - {"api_key"} == set(options) - CLI_ONLY
    for name, action in options.items():
        if name not in CLI_ONLY and action.default not in (None, []):
            assert getattr(DEFAULTS, name) == action.default, name
    assert JUDGE_KEYS | SELECTION_KEYS == set(Settings.model_fields) and not JUDGE_KEYS & SELECTION_KEYS
    assert {"votes", "method", "seed", "deadline", "hedge"} <= SELECTION_KEYS
    assert {"model", "api_base", "api_key", "api_key_env", "client"} <= JUDGE_KEYS


def test_a_command_line_and_its_dict_build_the_same_selector() -> None:
    args = build_parser().parse_args(["select", "--query", "q", "--model", "hosted_vllm/j", "--api-base", "http://h/v1",
                                      "--method", "swiss", "--votes", "3", "--seed", "7"])  # fmt: skip
    from_cli = settings_of(args)
    from_dict = settings_from({"model": "hosted_vllm/j", "api_base": ["http://h/v1"], "method": "swiss", "votes": 3,
                               "seed": 7})  # fmt: skip
    assert from_cli == from_dict
    selector = build_selector(from_dict, build_judge(from_dict))
    assert isinstance(selector, SwissSelector) and isinstance(selector.judge, LiteLLMJudge)


@pytest.mark.parametrize(
    ("values", "message"),
    [({"vote": 3}, "unknown rrm_select setting 'vote' (did you mean 'votes'?)"),
     ({"votes": "x"}, "rrm_select setting 'votes': Input should be a valid integer"),
     ({"early_stop": "soon"}, "rrm_select setting 'early_stop'"),
     ({"concurrency": 0}, "rrm_select setting 'concurrency'")],
)  # fmt: skip
def test_a_bad_key_or_value_is_named(values: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=re.escape(message)):
        settings_from(values)


def test_a_bad_api_key_is_named_but_never_shown() -> None:
    with pytest.raises(InvalidArgumentError, match="'api_key'") as failed:
        settings_from({"api_key": ["sk-do-not-show"]})
    assert "sk-do-not-show" not in str(failed.value)


def test_layers_merge_key_by_key_and_remember_their_source() -> None:
    resolved = resolve([("call", {"votes": 3}), ("config", {"votes": 2, "seed": 5, "model": "m"}),
                        ("environment", {"seed": "9", "model": "other", "api_key": "sk-env"})])  # fmt: skip
    assert (resolved.settings.votes, resolved.settings.seed, resolved.settings.model) == (3, 5, "m")
    assert resolved.sources["votes"] == "call" and resolved.sources["seed"] == "config"
    assert resolved.sources["api_key"] == "environment" and resolved.sources["order"] == "default"
    record = resolved.record()
    assert record["api_key"] == {"value": "****", "source": "environment"}
    assert record["votes"] == {"value": 3, "source": "call"}
    with pytest.raises(InvalidArgumentError, match=r"unknown rrm_select setting \(from the config\) 'vots'"):
        resolve([("config", {"vots": 1})])


def test_environment_defaults_are_rrm_select_variables_with_lists_comma_separated() -> None:
    environ = {"RRM_SELECT_VOTES": "3", "RRM_SELECT_API_BASE": "http://a/v1,http://b/v1", "RRM_SELECT_SEED": "",
               "RRM_SELECT_THINKING_BUDGETS": "1024,8192", "RRM_SELECT_MODEL": "hosted_vllm/j", "OTHER": "x"}  # fmt: skip
    given = environment_settings(environ)
    assert set(given) == {"votes", "api_base", "thinking_budgets", "model"}  # an empty variable is unset
    settings = settings_from(given)
    assert settings.votes == 3 and settings.api_base == ("http://a/v1", "http://b/v1")
    assert settings.thinking_budgets == (1024, 8192)
    assert settings_from({"thinking_budgets": "2048"}).thinking_budgets == (2048,)
    assert settings_from({"api_base": "http://a/v1"}).api_base == "http://a/v1"


def test_the_key_comes_from_the_named_variable_unless_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_JUDGE_KEY", "sk-from-env")
    assert settings_from({"api_key_env": "MY_JUDGE_KEY"}).key() == "sk-from-env"
    assert settings_from({"api_key_env": "MY_JUDGE_KEY", "api_key": "sk-given"}).key() == "sk-given"
    assert "sk-given" not in repr(settings_from({"api_key": "sk-given"}))


def test_builders_check_what_belongs_together() -> None:
    with pytest.raises(InvalidArgumentError, match="no judge"):
        build_judge(DEFAULTS)
    with pytest.raises(InvalidArgumentError, match="exactly one api_base"):
        build_judge(settings_from({"model": "j", "client": "http", "api_base": "http://a/v1,http://b/v1"}))
    judge = build_judge(settings_from({"model": "j", "api_base": "http://a/v1"}))
    with pytest.raises(InvalidArgumentError, match="finalists applies to method knockout only"):
        build_selector(settings_from({"method": "elo", "finalists": 2}), judge)
    assert isinstance(build_selector(settings_from({"finalists": 2}), judge), KnockoutSelector)


def test_answer_is_a_selection_key_checked_at_construction() -> None:
    assert DEFAULTS.answer is None and "answer" in SELECTION_KEYS
    assert Settings(answer="number").answer == "number"
    assert settings_from({"answer": "regex:Answer: ([A-D])"}).answer == "regex:Answer: ([A-D])"
    assert settings_from(environment_settings({"RRM_SELECT_ANSWER": "json:final.answer"})).answer == "json:final.answer"
    args = build_parser().parse_args(["select", "--query", "q", "--answer", "boxed"])
    assert settings_of(args).answer == "boxed" and settings_of(args) == settings_from({"answer": "boxed"})
    with pytest.raises(ValueError, match="answer"):
        Settings(answer="box")


@pytest.mark.parametrize(
    ("spec", "message"),
    [("box", "unknown answer spec 'box': want boxed, number, regex:PATTERN or json:FIELD"),
     ("", "unknown answer spec ''"),
     ("regex:(", "answer regex '(' does not compile"),
     ("json:a..b", "answer json field 'a..b'")],
)  # fmt: skip
def test_a_bad_answer_spec_is_named(spec: str, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=re.escape(message)) as failed:
        settings_from({"answer": spec})
    assert str(failed.value).startswith("rrm_select setting 'answer': ")


@pytest.mark.parametrize("method", ["knockout", "elo", "swiss"])
def test_the_answer_setting_reaches_the_selector(method: str) -> None:
    candidates = ["so 1,000", "it is 1000.0", "= 1000"]  # one answer, three wordings
    plain = build_selector(settings_from({"method": method}), ScriptedJudge(lambda q, a, b: 1)).select("q", candidates)
    aware = build_selector(settings_from({"method": method, "answer": "number"}), ScriptedJudge(lambda q, a, b: 1))
    assert plain.usage.requests > 0 and aware.select("q", candidates).usage.requests == 0
