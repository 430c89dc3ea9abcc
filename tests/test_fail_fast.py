"""gather_fail_fast: one failure cancels the siblings and surfaces as itself."""

from __future__ import annotations

import asyncio

import pytest

from rrm_select.errors import JudgeUnavailableError
from rrm_select.fail_fast import gather_fail_fast


def test_results_in_order() -> None:
    async def after(delay: float, value: int) -> int:
        await asyncio.sleep(delay)
        return value

    assert asyncio.run(gather_fail_fast(after(0.02, 1), after(0.0, 2), after(0.01, 3))) == [1, 2, 3]


def test_first_failure_cancels_the_rest_and_keeps_its_cause() -> None:
    stopped: list[str] = []

    async def sibling(name: str) -> None:
        try:
            await asyncio.sleep(60)
        finally:
            stopped.append(name)

    async def failing() -> None:
        await asyncio.sleep(0.01)
        try:
            raise ConnectionError("socket closed")
        except ConnectionError as exc:
            raise JudgeUnavailableError("judge down") from exc

    async def main() -> None:
        await gather_fail_fast(sibling("a"), failing(), sibling("b"))

    with pytest.raises(JudgeUnavailableError, match="judge down") as raised:
        asyncio.run(main())
    assert sorted(stopped) == ["a", "b"]  # both were cancelled and finished before the raise
    assert isinstance(raised.value.__cause__, ConnectionError)
    assert not isinstance(raised.value.__context__, BaseExceptionGroup)
