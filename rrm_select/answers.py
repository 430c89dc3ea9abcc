"""Answer keys: a candidate's text -> its final answer as a string, or None for "no answer found",
so that candidates saying the same thing need not be judged against each other. Strings (not
numbers) so that records stay JSON and a resumed run compares them byte for byte. Ready-made:
`boxed`, `number`, `regex`, `json_field`; ``--answer boxed|number|regex:PATTERN|json:FIELD``
on the command line (`answer_from_spec`)."""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Callable, Sequence
from decimal import Context, Decimal
from typing import Any

from rrm_select.errors import InvalidArgumentError

AnswerKey = Callable[[str], str | None]
"""A candidate's text -> its answer, or None when it has none."""

SPECS = "boxed, number, regex:PATTERN or json:FIELD"


def _trimmed(text: str | None) -> str | None:
    # Empty means "no answer": an empty box must not make every empty-boxed candidate one group.
    return (text.strip() or None) if text is not None else None


def _last_match(pattern: re.Pattern[str], text: str) -> re.Match[str] | None:
    tail = deque(pattern.finditer(text), maxlen=1)  # keeps one match, however many there are
    return tail[0] if tail else None


_BOX = re.compile(r"\\boxed\s*\{")
_BRACES = re.compile(r"\\.|[{}]", re.DOTALL)  # an escape (\{, \}, \\) is one token, never a brace


def boxed() -> AnswerKey:
    r"""The content of the last ``\boxed{...}`` to open, whitespace-trimmed.

    Braces are balanced (``\boxed{\frac{1}{2}}`` is ``\frac{1}{2}``) and escaped ones (``\{``,
    ``\}``) are text. A box never closed (a cut-off generation) is skipped for the last complete
    one; in nested boxes the inner one opens last. No other normalisation: ``\frac12`` and ``0.5``
    differ. None when there is no complete, non-empty box.
    """

    def key(text: str) -> str | None:
        box_braces = {match.end() - 1 for match in _BOX.finditer(text)}
        # One pass over the braces with a stack, so that many unclosed boxes stay linear.
        stack: list[int] = []
        last: tuple[int, int] | None = None
        for token in _BRACES.finditer(text) if box_braces else ():
            if token.group() == "{":
                stack.append(token.start())
            elif token.group() == "}" and stack:
                start = stack.pop()
                if start in box_braces and (last is None or start > last[0]):
                    last = (start, token.start())
        return _trimmed(text[last[0] + 1 : last[1]]) if last else None

    return key


# A sign, an integer part (thousands only in proper groups of three, or none before ".5"), a
# fraction. Not glued to a word or point before it (x2, CO2, v1.2 hold no number) and not cut
# from a longer number or an exponent after it (1e3 is skipped, not read as 1).
_NUMBER = re.compile(r"(?<![\w.])([+\-\u2212]?)(\d{1,3}(?:,\d{3})+|\d+|(?=\.\d))(\.\d+)?(?!\.?\d|[eE][+\-]?\d)")


def number() -> AnswerKey:
    """The last number in the text, as its shortest exact decimal.

    ``1,000``, ``1000``, ``1000.0`` and ``+1000.00`` are all ``"1000"``; ``-0.50`` is ``"-0.5"``,
    ``.5`` is ``"0.5"``, ``-0`` is ``"0"``; the minus sign U+2212 counts as ``-``. Commas are
    thousands separators only in groups of three after one to three digits; any other comma
    separates numbers (``1,2,3`` ends with ``3``). A digit glued to a letter before it is part of
    a word (``x2``, ``CO2``: no number), one followed by letters is a number with a unit (``5kg``
    is ``5``). No exponents: ``1e3`` is not read. Exact (`decimal.Decimal`, never a float). None
    when there is no number.
    """

    def key(text: str) -> str | None:
        if (found := _last_match(_NUMBER, text)) is None:
            return None
        sign, whole, fraction = found.group(1), found.group(2).replace(",", ""), found.group(3) or ""
        digits = (whole or "0") + fraction
        value = Decimal(digits).normalize(Context(prec=len(digits)))  # enough precision to round nothing
        if value.is_zero():
            return "0"
        return ("-" if sign in ("-", "\u2212") else "") + format(value, "f")

    return key


def regex(pattern: str) -> AnswerKey:
    """The first group of the pattern's last match (the whole match when it has no group),
    trimmed. None when it does not match or the group took no part; a pattern that does not
    compile is an `InvalidArgumentError`."""
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise InvalidArgumentError(f"answer regex {pattern!r} does not compile: {exc}") from exc

    def key(text: str) -> str | None:
        if (found := _last_match(compiled, text)) is None:
            return None
        return _trimmed(found.group(1) if compiled.groups else found.group(0))

    return key


_FENCED_JSON = re.compile(r"```json[ \t]*\n(.*?)```", re.DOTALL | re.IGNORECASE)


def json_field(path: str) -> AnswerKey:
    """The field at a dotted `path` (``a.b.0.c``; digits index a list, other parts a key) of the
    text parsed as JSON: the whole text, else its last ```` ```json ```` fenced block.

    A string field is the answer as it is (trimmed); any other value is compact JSON with sorted
    keys (``{"a":1,"b":[2,3]}``, ``true``, ``1.5``; ``1`` and ``1.0`` differ). None when no JSON
    is found, the path is missing, or the value is null or an empty string.
    """
    parts = path.split(".")
    if not path or not all(parts):
        raise InvalidArgumentError(f"answer json field {path!r}: want a dotted path such as answer or a.b.0.c")

    def key(text: str) -> str | None:
        value = _parsed(text)
        for part in parts:
            if isinstance(value, dict) and part in value:
                value = value[part]
            elif isinstance(value, list) and part.isascii() and part.isdigit() and int(part) < len(value):
                value = value[int(part)]
            else:
                return None
        if value is None or isinstance(value, str):
            return _trimmed(value)
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    return key


def _parsed(text: str) -> Any:
    """The whole text as JSON, else its last fenced JSON block, else None."""
    for source in (text, *_FENCED_JSON.findall(text)[-1:]):
        try:
            return json.loads(source)
        except (ValueError, RecursionError):  # not JSON, or nested past the parser's depth
            pass
    return None


def answer_from_spec(spec: str) -> AnswerKey:
    """The key a spec names: ``boxed``, ``number``, ``regex:PATTERN`` or ``json:FIELD``."""
    name, sep, argument = spec.partition(":")
    if not sep and name in ("boxed", "number"):
        return boxed() if name == "boxed" else number()
    if sep and name == "regex" and argument:
        return regex(argument)
    if sep and name == "json" and argument:
        return json_field(argument)
    raise InvalidArgumentError(f"unknown answer spec {spec!r}: want {SPECS}")


def answers_of(key: AnswerKey, texts: Sequence[str], *, first: int = 0) -> list[str | None]:
    """Each text's answer under `key`; an empty or whitespace-only answer is None.

    A key that raises, or returns neither a str nor None, is an `InvalidArgumentError` naming the
    candidate (``candidates[3]``, counting from `first`), never its text (it may be long or
    private)."""
    answers: list[str | None] = []
    for index, text in enumerate(texts, start=first):
        try:
            answer = key(text)
        except Exception as exc:
            why = f"{type(exc).__name__}: {exc}"
            raise InvalidArgumentError(f"answer key failed on candidates[{index}]: {why}") from exc
        if answer is not None and not isinstance(answer, str):
            what = type(answer).__name__
            raise InvalidArgumentError(f"answer key returned {what} for candidates[{index}]: want a str or None")
        answers.append(answer if answer is None or answer.strip() else None)
    return answers


__all__ = ["SPECS", "AnswerKey", "answer_from_spec", "answers_of", "boxed", "json_field", "number", "regex"]
