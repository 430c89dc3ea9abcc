"""Best-of-n around a generation call, and reranking of arbitrary items.

`completion`/`acompletion` take `litellm.completion`'s arguments plus `n` and a selector (or a
judge): they get n candidates from the generator (one request with `n`; providers that return
fewer, such as llama.cpp, are topped up with concurrent requests, and judging starts on the
candidates already there while the rest are generated), pick the best with the judge, and return a litellm `ModelResponse` whose single choice is the winner, so code written
for `litellm.completion` keeps working. The selection trace is on the response (see
`selection_of`) and `response.usage` adds the judge's tokens to the generator's.

With `stream=True` they return a `ResponseStream` of litellm stream chunks (sync or async, as
called), for code written against a stream. The first token arrives only after the selection:
every candidate is generated (without streaming) and judged first, and then the winner is
replayed. `stream_options={"include_usage": True}` ends the stream with the usage chunk.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from rrm_select.conversation import BadRow, message_text, query_text
from rrm_select.errors import InvalidArgumentError, RRMError
from rrm_select.judges.base import Judge
from rrm_select.judges.litellm_transport import import_litellm
from rrm_select.selectors.base import Selector
from rrm_select.selectors.knockout import KnockoutSelector
from rrm_select.streaming import ResponseStream
from rrm_select.sync_loop import run_sync
from rrm_select.types import Selection, Usage

if TYPE_CHECKING:
    from litellm.types.utils import ModelResponse

T = TypeVar("T")
_HIDDEN_KEY = "rrm_select"


async def acompletion(
    *,
    model: str,
    messages: list[dict[str, Any]],
    n: int = 4,
    selector: Selector | None = None,
    judge: Judge | None = None,
    stream: bool = False,
    stream_options: dict[str, Any] | None = None,
    **kwargs: Any,
) -> ModelResponse | ResponseStream:
    """`litellm.acompletion` that returns the best of `n` candidates (see the module docstring).

    Args:
        model, messages, **kwargs: passed to ``litellm.acompletion`` for the candidates.
        n: how many candidates to generate (>= 1; 1 skips judging).
        selector: how to choose; or `judge`, for a `KnockoutSelector(judge)`.
        stream: return the winner as a `ResponseStream` once it is chosen; the candidates are
            generated without streaming either way (`stream_options` never reaches the generator).
        stream_options: ``{"include_usage": True}`` ends the stream with a usage chunk.
    """
    response = await _best_of_n(model, messages, n, _chooser(selector, judge), kwargs)
    if stream:
        return ResponseStream(response, include_usage=bool((stream_options or {}).get("include_usage")))
    return response


async def _best_of_n(
    model: str, messages: list[dict[str, Any]], n: int, chooser: Selector, kwargs: dict[str, Any]
) -> ModelResponse:
    """The selection itself: a finished response whose single choice is the winner (the
    generator is never asked to stream; `acompletion` replays the winner when asked to)."""
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise InvalidArgumentError(f"n must be an integer >= 1, got {n!r}")
    try:
        query = query_text(messages)
    except BadRow as bad:
        raise InvalidArgumentError(f"messages: {bad}") from bad
    litellm = import_litellm()
    response = await litellm.acompletion(model=model, messages=messages, n=n, **kwargs)
    choices = list(response.choices)[:n]
    # A provider that ignored n (llama.cpp) gets the rest as concurrent single requests; the
    # first-round matches between candidates already there start while those are generated.
    extra = [
        asyncio.ensure_future(litellm.acompletion(model=model, messages=messages, n=1, **kwargs))
        for _ in range(n - len(choices) if choices else 0)
    ]
    try:
        if extra:
            arrivals = [_arrived(_choice_text(c)) for c in choices] + [_first_choice_text(e, model) for e in extra]
            selection = await chooser.aselect_arriving(query, arrivals)
        else:
            selection = await chooser.aselect(query, [_choice_text(c) for c in choices])
    finally:
        for task in extra:
            task.cancel()
    for more in (task.result() for task in extra):
        choices.append(more.choices[0])
        _add_tokens(response.usage, more.usage)
    generation_usage = _generation_usage(response, 1 + len(extra))
    winner = choices[selection.best_index]
    winner.index = 0
    response.choices = [winner]
    _add_tokens(response.usage, selection.usage)
    response._hidden_params[_HIDDEN_KEY] = {"selection": selection, "generation_usage": generation_usage}
    return response


def completion(
    *,
    model: str,
    messages: list[dict[str, Any]],
    n: int = 4,
    selector: Selector | None = None,
    judge: Judge | None = None,
    stream: bool = False,
    stream_options: dict[str, Any] | None = None,
    **kwargs: Any,
) -> ModelResponse | ResponseStream:
    """Sync `acompletion`; safe inside a running event loop. A stream is iterated with `for`."""
    chooser = _chooser(selector, judge)
    call = acompletion(
        model=model, messages=messages, n=n, selector=chooser, stream=stream, stream_options=stream_options, **kwargs
    )
    return run_sync(call)


def selection_of(response: Any) -> Selection:
    """The selection behind a response (or a `ResponseStream`) from `completion`/`acompletion`:
    every candidate, match and vote, and the judge's usage (`response.usage` is generation plus
    judging)."""
    return trace_of(response)["selection"]  # type: ignore[no-any-return]


def generation_usage_of(response: Any) -> Usage:
    """What generating the n candidates cost (requests and tokens), before judging."""
    return trace_of(response)["generation_usage"]  # type: ignore[no-any-return]


def trace_of(response: Any) -> dict[str, Any]:
    """The rrm_select data a response (or a `ResponseStream`) carries (``selection``,
    ``generation_usage``), for apps built on `acompletion` that add to it."""
    if isinstance(response, ResponseStream):
        response = response.response
    try:
        return response._hidden_params[_HIDDEN_KEY]  # type: ignore[no-any-return]
    except (AttributeError, KeyError, TypeError) as exc:
        raise InvalidArgumentError("this response did not come from rrm_select.completion") from exc


@dataclass(frozen=True)
class Reranked(Generic[T]):
    """Items best first (at most `top_k`), their scores, their input positions, and the trace."""

    items: list[T]
    scores: list[float]
    indices: list[int]
    selection: Selection


async def arerank(
    query: str,
    items: Sequence[T],
    *,
    selector: Selector,
    text: Callable[[T], str] | None = None,
    top_k: int | None = None,
) -> Reranked[T]:
    """Rank arbitrary `items` (agent trajectories, dicts, pydantic models) for `query`.

    Args:
        text: what the judge reads of an item; default: a string as is, a pydantic model or a
            dict as indented JSON, anything else `str(item)`.
        top_k: keep only the best `top_k`.
    """
    if top_k is not None and (not isinstance(top_k, int) or top_k < 1):
        raise InvalidArgumentError(f"top_k must be an integer >= 1 or None, got {top_k!r}")
    render = text or _default_text
    selection = await selector.aselect(query, [render(item) for item in items])
    order = list(selection.ranking[:top_k])
    return Reranked([items[i] for i in order], [selection.scores[i] for i in order], order, selection)


def rerank(
    query: str,
    items: Sequence[T],
    *,
    selector: Selector,
    text: Callable[[T], str] | None = None,
    top_k: int | None = None,
) -> Reranked[T]:
    """Sync `arerank`; safe inside a running event loop."""
    return run_sync(arerank(query, items, selector=selector, text=text, top_k=top_k))


def _chooser(selector: Selector | None, judge: Judge | None) -> Selector:
    if (selector is None) == (judge is None):
        raise InvalidArgumentError("give exactly one of selector= or judge=")
    return selector if selector is not None else KnockoutSelector(judge)  # type: ignore[arg-type]


async def _arrived(text: str) -> str:
    return text


async def _first_choice_text(response: Awaitable[Any], model: str) -> str:
    choices = (await response).choices
    if not choices:
        raise RRMError(f"the generator {model!r} returned a response without choices")
    return _choice_text(choices[0])


def _add_tokens(total: Any, more: Any) -> None:
    """Add `more`'s prompt and completion tokens to the response usage `total` (where both exist)."""
    if total is None or more is None:
        return
    total.prompt_tokens += more.prompt_tokens
    total.completion_tokens += more.completion_tokens
    total.total_tokens += more.prompt_tokens + more.completion_tokens


def _choice_text(choice: Any) -> str:
    message = choice.message
    as_dict = {"content": message.content, "tool_calls": getattr(message, "tool_calls", None)}
    return message_text(as_dict) or ""  # an empty answer is still a candidate (it should lose)


def _generation_usage(response: Any, requests: int) -> Usage:
    usage = getattr(response, "usage", None)
    return Usage(
        requests=requests,
        prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
        completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
    )


def _default_text(item: Any) -> str:
    if isinstance(item, str):
        return item
    if hasattr(item, "model_dump_json"):
        return str(item.model_dump_json(indent=2))
    if isinstance(item, dict | list):
        return json.dumps(item, indent=2, ensure_ascii=False, sort_keys=True, default=str)
    return str(item)
