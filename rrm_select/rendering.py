"""A judge's conversation as one prompt text, for a completions endpoint.

Client-side budget forcing continues a generation from its own reasoning. It cannot do that
through a chat endpoint: the DeepSeek-R1 chat template (the RRM checkpoints') drops everything
up to ``</think>`` from an assistant message, so a prefilled reasoning would silently vanish. It
sends the rendered prompt, and later the prompt plus the reasoning so far, to ``/completions``.

The rendering must match what the server's chat endpoint would have built: the R1 layout by
default, or the model's own chat template. Either is rendered without the BOS token, which the
server's tokenizer adds to a completions prompt by itself (vLLM's ``add_special_tokens``
default); rendering it too would give the model two.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rrm_select.errors import InvalidArgumentError, MissingDependencyError
from rrm_select.formats import Message

Renderer = Callable[[Sequence[Message]], str]
"""Messages -> the prompt text a completions endpoint continues (the generation prompt included)."""

R1_USER = "<｜User｜>"
R1_ASSISTANT = "<｜Assistant｜>"
R1_END = "<｜end▁of▁sentence｜>"
R1_GENERATION_PROMPT = R1_ASSISTANT + "<think>\n"


def r1_prompt(messages: Sequence[Message]) -> str:
    """The DeepSeek-R1 layout: system text, then ``<｜User｜>`` turns and ``<｜Assistant｜>`` turns,
    ending with the generation prompt that opens the reasoning (``<｜Assistant｜><think>\\n``)."""
    system = "".join(m["content"] for m in messages if m["role"] == "system")
    turns = []
    for message in messages:
        if message["role"] == "user":
            turns.append(R1_USER + message["content"])
        elif message["role"] == "assistant":
            turns.append(R1_ASSISTANT + message["content"] + R1_END)
    return system + "".join(turns) + R1_GENERATION_PROMPT


def chat_template(source: str, **variables: object) -> Renderer:
    """A renderer from a Jinja chat template (a tokenizer's ``chat_template``), evaluated as
    Hugging Face tokenizers do (sandboxed, ``add_generation_prompt=True``); `variables` add to or
    override its context (``bos_token`` is "" unless given, see the module docstring)."""
    try:
        from jinja2 import TemplateError
        from jinja2.ext import loopcontrols
        from jinja2.sandbox import ImmutableSandboxedEnvironment
    except ImportError as exc:  # pragma: no cover - jinja2 comes with litellm
        raise MissingDependencyError("chat templates need jinja2: pip install jinja2") from exc

    def raise_exception(message: str) -> None:
        raise TemplateError(message)

    environment = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    environment.globals["raise_exception"] = raise_exception
    try:
        template = environment.from_string(source)
    except TemplateError as exc:
        raise InvalidArgumentError(f"chat_template is not a valid Jinja template: {exc}") from exc
    context = {"bos_token": "", "eos_token": "", "add_generation_prompt": True, **variables}

    def render(messages: Sequence[Message]) -> str:
        return template.render(messages=list(messages), **context)

    return render
