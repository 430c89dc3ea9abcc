"""(placeholder for the merge: the answers-cli branch has the real module)"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rrm_select.errors import InvalidArgumentError

AnswerKey = Callable[[str], str | None]


def answers_of(key: AnswerKey, texts: Sequence[str], *, first: int = 0) -> list[str | None]:
    out: list[str | None] = []
    for i, text in enumerate(texts, start=first):
        try:
            value = key(text)
        except Exception as exc:
            raise InvalidArgumentError(f"the answer key failed on candidates[{i}]: {exc!r}") from exc
        if value is not None and not isinstance(value, str):
            raise InvalidArgumentError(f"the answer key returned {type(value).__name__} for candidates[{i}]")
        out.append(value.strip() or None if value is not None else None)
    return out
