"""The litellm provider ``rrm_select``: ``model="rrm_select/<generator model>"`` is the best of ``n``.

    rrm_select.register_litellm()
    litellm.completion(model="rrm_select/hosted_vllm/my-generator", messages=..., n=4, api_base=...,
                       rrm_select={"model": "hosted_vllm/RRM-7B", "api_base": "http://...", "votes": 3})

The call's own arguments (api_base, api_key, temperature, tools, response_format, ...) go to the
generator; the judge and the selection come from `rrm_select.settings`, in layers: the call
(``rrm_select=`` or ``extra_body={"rrm_select": ...}``), the proxy config (``rrm_select_defaults``
in a model's ``litellm_params``: a key of its own, because litellm's router lets a request's
parameter replace the deployment's of the same name), then ``RRM_SELECT_<KEY>`` variables.

Behind the litellm proxy the caller is not the operator: a request may set only selection keys
(and ``trace``), unless the config's defaults say ``requests_may_set_judge: true``; otherwise any
caller could send the judge's server-side key to a URL of their choosing.

Keys of this provider beside the settings: ``trace`` (a compact trace on the response, for proxy
clients that cannot see litellm's hidden fields), ``generator`` (the generator's model when its
name cannot be in the model string, see `register_litellm`) and ``requests_may_set_judge``.
"""

from __future__ import annotations

import collections
import json
import os
import threading
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from rrm_select.judges.litellm_transport import import_litellm

litellm = import_litellm()  # first: it keeps litellm offline (its price list) and quiet
from litellm import CustomLLM  # noqa: E402
from litellm.llms.custom_llm import CustomLLMError  # noqa: E402
from litellm.types.utils import GenericStreamingChunk  # noqa: E402

from rrm_select import InvalidArgumentError, Judge, JudgeError, JudgeUnavailableError, RRMError, Selector  # noqa: E402
from rrm_select.settings import (  # noqa: E402
    JUDGE_KEYS,
    SELECTION_KEYS,
    Resolved,
    Settings,
    build_judge,
    build_selector,
    environment_settings,
    resolve,
)
from rrm_select.streaming import generic_chunks  # noqa: E402
from rrm_select.sync_loop import run_sync  # noqa: E402
from rrm_select.wrappers import acompletion, selection_of, trace_of  # noqa: E402

PROVIDER = "rrm_select"
CALL_KEY = "rrm_select"
CONFIG_KEY = "rrm_select_defaults"
PLUGIN_KEYS = frozenset({"trace", "generator", "requests_may_set_judge"})
OPERATOR_KEYS = frozenset({"answer"})
"""Selection keys a request through the proxy may not set either: an answer regex runs on the
proxy's CPU, and a pathological one would stall it."""
DEFAULT_N = 4
ENVIRON_PREFIX = "os.environ/"
_JUDGES_KEPT = 16


@dataclass(frozen=True)
class _Request:
    """One call, taken apart: the generator's model and arguments, and the resolved settings."""

    model: str
    generator_kwargs: dict[str, Any]
    resolved: Resolved
    trace: bool
    include_usage: bool


class RRMSelectProvider(CustomLLM):
    """litellm's handler for ``rrm_select/...`` models (see the module docstring).

    It keeps one judge per distinct judge settings (a few: through the proxy they come from the
    config), so concurrent requests share its connections and concurrency limit."""

    def __init__(self) -> None:
        super().__init__()
        self._judges: collections.OrderedDict[tuple[str, str | None], Judge] = collections.OrderedDict()
        self._lock = threading.Lock()

    async def acompletion(self, model: str, messages: list, api_base: str | None, custom_prompt_dict: dict,
                          model_response: Any, print_verbose: Any, encoding: Any, api_key: str | None,
                          logging_obj: Any, optional_params: dict, acompletion: Any = None,
                          litellm_params: dict | None = None, logger_fn: Any = None, headers: dict | None = None,
                          timeout: Any = None, client: Any = None) -> Any:  # fmt: skip
        request = _parse(model, api_base, api_key, timeout, optional_params, litellm_params or {})
        return await self._best_of_n(request, messages)

    def completion(self, *args: Any, **kwargs: Any) -> Any:
        return run_sync(self.acompletion(*args, **kwargs))

    async def astreaming(self, model: str, messages: list, api_base: str | None, custom_prompt_dict: dict,
                         model_response: Any, print_verbose: Any, encoding: Any, api_key: str | None,
                         logging_obj: Any, optional_params: dict, acompletion: Any = None,
                         litellm_params: dict | None = None, logger_fn: Any = None, headers: dict | None = None,
                         timeout: Any = None, client: Any = None) -> AsyncIterator[GenericStreamingChunk]:  # fmt: skip
        # The selection runs before the first chunk: the winner is known only once every
        # candidate is generated and judged.
        request = _parse(model, api_base, api_key, timeout, optional_params, litellm_params or {})
        response = await self._best_of_n(request, messages)
        for chunk in generic_chunks(response, include_usage=request.include_usage):
            yield chunk

    def streaming(self, *args: Any, **kwargs: Any) -> Iterator[GenericStreamingChunk]:
        async def collect() -> list[GenericStreamingChunk]:
            return [chunk async for chunk in self.astreaming(*args, **kwargs)]

        yield from run_sync(collect())

    async def _best_of_n(self, request: _Request, messages: list) -> Any:
        try:
            selector = self._selector(request.resolved.settings)
            response = await acompletion(model=request.model, messages=messages, selector=selector,
                                         **request.generator_kwargs)  # fmt: skip
        except InvalidArgumentError as exc:
            raise CustomLLMError(400, f"rrm_select: {exc}") from exc
        except JudgeUnavailableError as exc:
            raise CustomLLMError(503, f"rrm_select: the judge is unavailable: {exc}") from exc
        except JudgeError as exc:
            raise CustomLLMError(502, f"rrm_select: the judge refused the request: {exc}") from exc
        except RRMError as exc:
            raise CustomLLMError(500, f"rrm_select: {exc}") from exc
        trace = trace_of(response)
        trace["selection"] = selection = selection_of(response).model_copy(
            update={"settings": request.resolved.record()}
        )
        if request.trace:
            response.rrm_select = compact_trace(selection)  # an extra field the proxy passes on
        return response

    def _selector(self, settings: Settings) -> Selector:
        return build_selector(settings, self._judge(settings))

    def _judge(self, settings: Settings) -> Judge:
        judging = settings.model_dump(mode="json", include=set(JUDGE_KEYS) | {"hedge"})
        key = (json.dumps(judging, sort_keys=True), settings.key())
        with self._lock:
            judge = self._judges.get(key)
            if judge is None:
                judge = self._judges[key] = build_judge(settings)
                # A judge dropped here is still used by selections running with it; it is not
                # closed, only no longer handed out.
                while len(self._judges) > _JUDGES_KEPT:
                    self._judges.popitem(last=False)
            self._judges.move_to_end(key)
            return judge


def compact_trace(selection: Any) -> dict[str, Any]:
    """What a proxy client gets with ``trace: true``: the winner, each match and its votes, the
    judge's usage and the source of each setting."""
    return {
        "winner": selection.best_index,
        "ranking": list(selection.ranking),
        "matches": [
            {
                "a": m.a,
                "b": m.b,
                "winner": m.winner,
                "decided_by": m.decided_by,
                "votes": [v.verdict for v in m.votes],
            }
            for m in selection.matches
        ],
        "usage": selection.usage.model_dump(mode="json"),
        "settings": {name: entry["source"] for name, entry in (selection.settings or {}).items()},
    }


def _parse(model: str, api_base: str | None, api_key: str | None, timeout: Any, optional_params: Mapping[str, Any],
           litellm_params: Mapping[str, Any]) -> _Request:  # fmt: skip
    params = dict(optional_params)
    extra_body = dict(params.pop("extra_body", None) or {})
    call = {**(extra_body.pop(CALL_KEY, None) or {}), **(params.pop(CALL_KEY, None) or {})}
    config = params.pop(CONFIG_KEY, None) or {}
    for name, values in (("the request's rrm_select", call), (CONFIG_KEY, config)):
        if not isinstance(values, dict):
            raise CustomLLMError(400, f"rrm_select: {name} must be a JSON object of settings")
    config = {name: _from_environment(value) for name, value in config.items()}
    proxy_request = litellm_params.get("proxy_server_request")
    if proxy_request:
        _check_gateway_request(call, config, proxy_request)
    plugin = {name: values.pop(name) for values in (config, call) for name in list(values) if name in PLUGIN_KEYS}
    try:
        resolved = resolve([("call", call), ("config", config), ("environment", environment_settings())])
    except InvalidArgumentError as exc:
        raise CustomLLMError(400, f"rrm_select: {exc}") from exc
    stream_options = params.pop("stream_options", None) or {}
    params.pop("stream", None)
    generator = {key: value for key, value in (("api_base", api_base), ("api_key", api_key), ("timeout", timeout))
                 if value is not None}  # fmt: skip
    if extra_body:
        generator["extra_body"] = extra_body
    return _Request(
        model=str(plugin.get("generator") or model),
        generator_kwargs={"n": DEFAULT_N, **params, **generator},
        resolved=resolved,
        trace=bool(plugin.get("trace")),
        include_usage=bool(stream_options.get("include_usage")),
    )


def _from_environment(value: Any) -> Any:
    """A config value written ``os.environ/NAME`` (litellm's convention) is that variable's value;
    only the config's: a request must not read the proxy's environment."""
    if isinstance(value, str) and value.startswith(ENVIRON_PREFIX):
        return os.environ.get(value.removeprefix(ENVIRON_PREFIX))
    return value


def _check_gateway_request(call: Mapping[str, Any], config: Mapping[str, Any], proxy_request: Any) -> None:
    """Through the proxy: settings a request may not make (see the module docstring)."""
    body = proxy_request.get("body") if isinstance(proxy_request, dict) else None
    # The router would let a request's rrm_select_defaults replace the config's.
    if isinstance(body, dict) and CONFIG_KEY in body:
        raise CustomLLMError(400, f"rrm_select: {CONFIG_KEY} is set in the proxy config, not by a request")
    if config.get("requests_may_set_judge") is True:
        allowed = set(SELECTION_KEYS) | set(JUDGE_KEYS) | {"trace", "generator"}
    else:
        allowed = set(SELECTION_KEYS - OPERATOR_KEYS) | {"trace"}
    for name in call:
        if name not in allowed and (name in JUDGE_KEYS or name in PLUGIN_KEYS or name in OPERATOR_KEYS):
            raise CustomLLMError(
                400,
                f"rrm_select: a request through the proxy may not set {name!r} (judge settings and the answer "
                f"key come from the proxy config or the environment; the config can allow requests_may_set_judge)",
            )


def register() -> None:
    """Make ``rrm_select/...`` models known to litellm (idempotent); see `rrm_select.register_litellm`."""
    if not any(entry.get("provider") == PROVIDER for entry in litellm.custom_provider_map):
        litellm.custom_provider_map = [*litellm.custom_provider_map, {"provider": PROVIDER, "custom_handler": handler}]
    litellm.utils.custom_llm_setup()


handler = RRMSelectProvider()
"""The instance litellm calls; the proxy config names it as ``rrm_select.litellm_provider.handler``."""
