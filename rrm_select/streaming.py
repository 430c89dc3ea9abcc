"""A finished best-of-n response replayed as a stream.

The winner is known only once every candidate has been generated and judged, so nothing can be
streamed early; what streaming gives is compatibility: code written for `stream=True` (a chat
UI, an OpenAI-compatible proxy) gets the winner in the chunk shapes it already reads. The winner
is cut into parts once (`stream_parts`), and two thin renderers turn the same parts into
litellm's chunks: `ResponseStream` (what `completion(stream=True)` returns) and
`generic_chunks` (for a litellm `CustomLLM.astreaming` to yield, e.g. behind litellm's proxy).

litellm is imported only when a stream is built: its types appear here for the type checker.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rrm_select.judges.litellm_transport import import_litellm

if TYPE_CHECKING:
    from litellm.types.utils import GenericStreamingChunk, ModelResponse, ModelResponseStream


@dataclass(frozen=True)
class ToolCallPart:
    """One tool call of the winner; `arguments` exactly as the generator wrote them."""

    index: int
    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class FinishPart:
    """The end of the winner: the finish reason its generator gave."""

    finish_reason: str


StreamPart = str | ToolCallPart | FinishPart
"""Content text, a tool call, or the finish."""


def stream_parts(response: ModelResponse) -> list[StreamPart]:
    """The winner (the response's single choice) in stream order: its content, each tool call,
    then the finish. Empty content is left out when the winner is tool calls only, as a
    streaming provider would send no content delta for it."""
    choice = response.choices[0]
    message = choice.message
    calls = getattr(message, "tool_calls", None) or []
    parts: list[StreamPart] = []
    if message.content or not calls:
        parts.append(message.content or "")
    parts.extend(ToolCallPart(i, call.id, call.function.name, call.function.arguments) for i, call in enumerate(calls))
    parts.append(FinishPart(choice.finish_reason or "stop"))
    return parts


def generic_chunks(response: ModelResponse, *, include_usage: bool) -> list[GenericStreamingChunk]:
    """The winner as the chunks a litellm `CustomLLM.astreaming` yields; litellm turns them into
    OpenAI stream chunks (and the usage of the last one into a usage chunk when the client asked
    for it with `stream_options={"include_usage": True}`)."""
    chunks: list[GenericStreamingChunk] = []
    for part in stream_parts(response):
        chunk: GenericStreamingChunk = {
            "text": "", "tool_use": None, "is_finished": False, "finish_reason": "", "usage": None, "index": 0,
        }  # fmt: skip
        if isinstance(part, str):
            chunk["text"] = part
        elif isinstance(part, ToolCallPart):
            chunk["tool_use"] = {
                "id": part.id,
                "type": "function",
                "function": {"name": part.name, "arguments": part.arguments},
                "index": part.index,
            }
        else:
            chunk["is_finished"] = True
            chunk["finish_reason"] = part.finish_reason
            usage = getattr(response, "usage", None) if include_usage else None
            if usage is not None:
                chunk["usage"] = {
                    "prompt_tokens": usage.prompt_tokens,
                    "completion_tokens": usage.completion_tokens,
                    "total_tokens": usage.total_tokens,
                }
        chunks.append(chunk)
    return chunks


class ResponseStream:
    """What `completion`/`acompletion(stream=True)` return: an iterator, sync and async, over
    `litellm.ModelResponseStream` chunks shaped like `litellm.acompletion(stream=True)`'s (one
    pass, as litellm's stream). The finished response is `response`, so `selection_of(stream)`
    works."""

    def __init__(self, response: ModelResponse, *, include_usage: bool = False) -> None:
        self.response = response
        self._chunks = iter(_model_chunks(response, include_usage))

    def __iter__(self) -> Iterator[ModelResponseStream]:
        return self

    def __next__(self) -> ModelResponseStream:
        return next(self._chunks)

    def __aiter__(self) -> ResponseStream:
        return self

    async def __anext__(self) -> ModelResponseStream:
        try:
            return next(self._chunks)
        except StopIteration:
            raise StopAsyncIteration from None


def _model_chunks(response: ModelResponse, include_usage: bool) -> list[ModelResponseStream]:
    import_litellm()  # quiet, and without fetching the price list
    from litellm.types.utils import (
        ChatCompletionDeltaToolCall,
        Delta,
        Function,
        ModelResponseStream,
        StreamingChoices,
    )

    def chunk(choices: list[StreamingChoices], **extra: Any) -> ModelResponseStream:
        # Every chunk carries the response's id, created and model, as an OpenAI stream does.
        return ModelResponseStream(
            choices=choices, id=response.id, created=response.created, model=response.model, **extra
        )

    chunks: list[ModelResponseStream] = []
    for part in stream_parts(response):
        role = None if chunks else "assistant"  # the first delta names the role, as OpenAI's does
        if isinstance(part, str):
            chunks.append(chunk([StreamingChoices(delta=Delta(role=role, content=part))]))
        elif isinstance(part, ToolCallPart):
            call = ChatCompletionDeltaToolCall(
                id=part.id,
                type="function",
                function=Function(name=part.name, arguments=part.arguments),
                index=part.index,
            )
            chunks.append(chunk([StreamingChoices(delta=Delta(role=role, tool_calls=[call]))]))
        else:
            chunks.append(chunk([StreamingChoices(delta=Delta(), finish_reason=part.finish_reason)]))
    usage = getattr(response, "usage", None)
    if include_usage and usage is not None:
        # OpenAI's usage chunk comes last and has no choices.
        chunks.append(chunk([], usage=usage.model_copy(deep=True)))
    return chunks
