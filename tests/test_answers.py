"""Answer keys: the ready-made extractors and their normalisation, specs, and bad keys."""

from __future__ import annotations

import re

import pytest

import rrm_select
from rrm_select import InvalidArgumentError
from rrm_select.answers import answer_from_spec, answers_of, boxed, json_field, number, regex


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        (r"so \boxed{42}.", "42"),
        (r"\boxed{\frac{1}{2}}", r"\frac{1}{2}"),
        (r"first \boxed{1}, then \boxed{ 2 } at last", "2"),
        (r"\boxed{\{1, 2\}}", r"\{1, 2\}"),  # escaped braces are text, not nesting
        (r"\boxed {x^{2}}", "x^{2}"),
        (r"\boxed{\boxed{7}}", "7"),  # the inner box opens last
        (r"\boxed{3} and a cut-off \boxed{\frac{1}{", "3"),  # an unclosed box is skipped
        ("no box here: 42", None),
        (r"\boxed{   }", None),  # empty is no answer
        (r"\boxed{} \boxed{5}", "5"),
        ("", None),
    ],
)
def test_boxed_takes_the_last_complete_box(text: str, answer: str | None) -> None:
    assert boxed()(text) == answer


def test_boxed_is_linear_on_many_unclosed_boxes() -> None:
    assert boxed()(r"\boxed{1}" + r"\boxed{" * 200_000) == "1"


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("the answer is 1000", "1000"),
        ("the answer is 1,000", "1000"),
        ("1000.0", "1000"),
        ("so 1000.00.", "1000"),  # the sentence's full stop is not a decimal point
        ("-0.50", "-0.5"),
        ("+3", "3"),
        ("\u22122", "-2"),  # the Unicode minus sign
        ("-0.0", "0"),
        (".5", "0.5"),
        ("007", "7"),
        ("$1,234,567.890", "1234567.89"),
        ("1,2,3", "3"),  # commas not in groups of three separate numbers
        ("12345,678", "678"),
        ("5 - 3 = 2", "2"),
        ("5-3", "3"),  # a minus after a digit is an operator, not a sign
        ("x2 + CO2 in v1.2", None),  # digits glued to a word are part of it
        ("it weighs 5kg", "5"),  # a unit after the number is fine
        ("1e3", None),  # no exponents: not read at all rather than read as 1
        ("step 4, and 1e3", "4"),
        ("12345678901234567890123456789012345.50", "12345678901234567890123456789012345.5"),  # exact
        ("no digits", None),
    ],
)
def test_number_takes_the_last_number_normalised(text: str, answer: str | None) -> None:
    assert number()(text) == answer


def test_equal_numbers_are_one_answer() -> None:
    assert len({number()(text) for text in ["1,000", "1000", "1000.0", "1000.00", "+1000", "= 1000."]}) == 1


@pytest.mark.parametrize(
    ("pattern", "text", "answer"),
    [
        (r"Answer: (\w+)", "Answer: A ... Answer: C", "C"),  # the first group of the last match
        (r"[A-D]\)", "A) or B)", "B)"),  # no group: the whole match
        (r"answer is (.*)", "the answer is   B  ", "B"),
        (r"(x)|(y)", "x y", None),  # the last match's first group took no part
        (r"Answer: (\w+)", "nothing", None),
        (r"Answer: (\w*)", "Answer: ", None),  # an empty group is no answer
    ],
)
def test_regex_first_group_of_the_last_match(pattern: str, text: str, answer: str | None) -> None:
    assert regex(pattern)(text) == answer


def test_a_bad_regex_is_named() -> None:
    with pytest.raises(InvalidArgumentError, match=re.escape("answer regex '(unclosed' does not compile")):
        regex("(unclosed")


@pytest.mark.parametrize(
    ("path", "text", "answer"),
    [
        ("answer", '{"answer": " B "}', "B"),
        ("a.b.0.c", '{"a": {"b": [{"c": 5}, {"c": 6}]}}', "5"),
        ("a.1", '{"a": [1, [2, 3]]}', "[2,3]"),
        ("a", '{"a": {"z": 1, "b": true}}', '{"b":true,"z":1}'),  # compact, keys sorted
        ("a", '{"a": 1.0}', "1.0"),
        ("ok", '{"ok": false}', "false"),
        ("a.0", '{"a": {"0": "key, not index"}}', "key, not index"),
        ("a.5", '{"a": [1]}', None),  # past the end
        ("a.x", '{"a": [1]}', None),  # a word does not index a list
        ("a.b", '{"a": 3}', None),
        ("missing", '{"answer": 1}', None),
        ("a", '{"a": null}', None),
        ("a", "not json at all", None),
        ("a", 'Reasoning...\n```json\n{"a": 1}\n```\nand finally\n```JSON\n{"a": 2}\n```\n', "2"),
        ("0", '["first", "second"]', "first"),
        ("a", "[" * 100_000, None),  # nested past the parser's depth is not JSON
    ],
)
def test_json_field_by_dotted_path(path: str, text: str, answer: str | None) -> None:
    assert json_field(path)(text) == answer


@pytest.mark.parametrize("path", ["", "a..b", ".a", "a."])
def test_a_bad_json_path_is_named(path: str) -> None:
    with pytest.raises(InvalidArgumentError, match=re.escape(f"answer json field {path!r}")):
        json_field(path)


def test_specs_name_the_four_extractors() -> None:
    assert answer_from_spec("boxed")(r"\boxed{4}") == "4"
    assert answer_from_spec("number")("1,000.0") == "1000"
    assert answer_from_spec("regex:Answer: ([A-D])")("Answer: A, no, Answer: D") == "D"
    assert answer_from_spec("regex:a:b")("a:b") == "a:b"  # only the first colon splits
    assert answer_from_spec("json:final.value")('{"final": {"value": 7}}') == "7"


@pytest.mark.parametrize("spec", ["", "box", "Boxed", "boxed:", "number:x", "regex:", "json:", "json", "regex", "re:x"])
def test_a_bad_spec_is_named_with_the_four_forms(spec: str) -> None:
    with pytest.raises(InvalidArgumentError) as failed:
        answer_from_spec(spec)
    assert f"unknown answer spec {spec!r}: want boxed, number, regex:PATTERN or json:FIELD" == str(failed.value)


def test_answers_of_applies_the_key_and_empty_is_none() -> None:
    assert answers_of(number(), ["1,000", "no number", "1000.0"]) == ["1000", None, "1000"]
    assert answers_of(lambda text: text, ["a", "", "  \n", " b "]) == ["a", None, None, " b "]
    assert answers_of(number(), []) == []


def test_a_raising_key_names_the_candidate() -> None:
    def key(text: str) -> str | None:
        if text == "bad":
            raise KeyError("no field")
        return text

    with pytest.raises(InvalidArgumentError, match=re.escape("candidates[2]: KeyError: 'no field'")) as failed:
        answers_of(key, ["a", "b", "bad"])
    assert isinstance(failed.value.__cause__, KeyError)


@pytest.mark.parametrize("returned", [3, 1.5, b"bytes", ["a"], True])
def test_a_key_returning_a_non_string_names_the_candidate(returned: object) -> None:
    with pytest.raises(InvalidArgumentError, match=re.escape(f"returned {type(returned).__name__} for candidates[1]")):
        answers_of(lambda text: returned if text == "second" else "x", ["first", "second"])  # type: ignore[arg-type, return-value]


def test_the_top_level_has_the_key_type_and_answers_of_but_not_the_extractors() -> None:
    assert rrm_select.AnswerKey is rrm_select.answers.AnswerKey and rrm_select.answers_of is rrm_select.answers.answers_of
    assert {"AnswerKey", "answers_of"} <= set(rrm_select.__all__)
    assert not {"boxed", "number", "regex", "json_field", "answer_from_spec"} & set(rrm_select.__all__)
