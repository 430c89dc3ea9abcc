"""Plain HTTP to one OpenAI-compatible server (vLLM, SGLang, llama.cpp), without litellm.

litellm spends about 6.5 ms of client CPU on every request; a selection that sends thousands at
once (a round robin at large N, a dataset filter at high concurrency) then waits on the client.
This transport posts the body with aiohttp over a pooled session: one session per event loop
(aiohttp binds a session to its loop), closed when that loop shuts down, so a program that
calls `asyncio.run` many times leaves nothing open. Its connection limit follows
`max_concurrency`, which aiohttp's default of 100 would otherwise cap.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import threading
import time
from dataclasses import dataclass
from typing import Any

from rrm_select.errors import InvalidArgumentError, JudgeRejectedError, JudgeUnavailableError
from rrm_select.judges.backend import check_positive_int
from rrm_select.judges.limit import ConcurrencyLimit
from rrm_select.judges.transport import (
    EndpointReply,
    EndpointRequest,
    Transport,
    retry_after_s,
)

_TRANSIENT_STATUS = frozenset({408, 409, 425, 429})
"""Besides 5xx: statuses that say "not now" rather than "never"."""
_ERROR_TEXT_CHARS = 500
_CLOSE_WAIT_S = 5.0


@dataclass
class _Pool:
    session: Any  # aiohttp.ClientSession, imported lazily
    keeper: asyncio.Task[None]
    """Waits for its loop's shutdown (which cancels it) and then closes the session."""


class AiohttpTransport(Transport):
    """Posts request bodies to ``{api_base}/{path}`` with aiohttp.

    Args:
        model: the model name the server serves (no litellm provider prefix).
        api_base: the endpoint, e.g. ``"http://127.0.0.1:8000/v1"``.
        api_key: sent as a bearer token; masked in every error.
        max_concurrency: requests in flight at once, across every selection and event loop
            using this transport; also each loop's connection limit.
    """

    kind = "http"

    def __init__(self, model: str, api_base: str, api_key: str | None = None, max_concurrency: int = 64) -> None:
        if not model or not isinstance(model, str):
            raise InvalidArgumentError("model must be the non-empty name the server serves")
        if not isinstance(api_base, str) or not api_base.startswith(("http://", "https://")):
            raise InvalidArgumentError(
                f"api_base must be an http(s) URL such as http://127.0.0.1:8000/v1, got {api_base!r}"
            )
        check_positive_int("max_concurrency", max_concurrency)
        self._model = model
        self.api_base = api_base.rstrip("/")
        self._api_key = api_key
        self.limit = ConcurrencyLimit(max_concurrency)
        self._pools: dict[asyncio.AbstractEventLoop, _Pool] = {}
        self._lock = threading.Lock()
        self._pid = os.getpid()

    def __repr__(self) -> str:
        return f"AiohttpTransport(model={self._model!r}, api_base={self.api_base!r})"

    @property
    def model(self) -> str:
        return self._model

    @property
    def endpoint(self) -> str:
        return self.api_base

    @property
    def secrets(self) -> list[str]:
        return [self._api_key] if self._api_key else []

    async def send(self, request: EndpointRequest) -> EndpointReply:
        import aiohttp  # here, not at the top: it adds a fifth of a second to importing rrm_select

        url = f"{self.api_base}/{request.path}"
        body = {"model": self._model, **request.body, **request.extra_body}
        async with self.limit:
            session = self._session()
            started = time.monotonic()
            try:
                async with session.post(url, json=body, timeout=aiohttp.ClientTimeout(total=request.timeout_s)) as reply:
                    status, text = reply.status, await reply.text(errors="replace")
                    retry_after = retry_after_s(reply.headers.get("Retry-After"))
            except (aiohttp.ClientConnectorCertificateError, aiohttp.ClientConnectorSSLError) as exc:
                raise JudgeRejectedError(f"TLS failed with {url}: {exc}", endpoint=self.api_base) from None
            except aiohttp.ClientConnectorError as exc:
                raise JudgeUnavailableError(f"could not connect to {url}: {exc}", endpoint=self.api_base) from None
            except TimeoutError:
                raise JudgeUnavailableError(
                    f"no reply within {request.timeout_s} s from {url}", endpoint=self.api_base
                ) from None
            except aiohttp.ClientError as exc:  # dropped mid-request, a broken reply
                raise JudgeUnavailableError(
                    f"connection dropped by {url}: {type(exc).__name__}: {exc}", endpoint=self.api_base
                ) from None
            latency = time.monotonic() - started
        if status != 200:
            message = f"HTTP {status}: {text[:_ERROR_TEXT_CHARS]}"
            error = JudgeUnavailableError if status >= 500 or status in _TRANSIENT_STATUS else JudgeRejectedError
            raise error(message, endpoint=self.api_base, status=status, retry_after_s=retry_after)
        try:
            parsed = json.loads(text)
        except ValueError:  # cut off mid-body, or not JSON at all
            raise JudgeUnavailableError(
                f"a reply that is not JSON: {text[:200]!r}", endpoint=self.api_base, status=status
            ) from None
        return EndpointReply(parsed if isinstance(parsed, dict) else {"body": parsed}, latency)

    def _session(self) -> Any:
        """This loop's pooled session, opened on first use."""
        import aiohttp

        loop = asyncio.get_running_loop()
        self._forget_parent()
        with self._lock:
            pool = self._pools.get(loop)
            if pool is None or pool.session.closed:
                headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else None
                connector = aiohttp.TCPConnector(limit=self.limit.limit, limit_per_host=0)
                session = aiohttp.ClientSession(connector=connector, headers=headers)
                pool = self._pools[loop] = _Pool(session, loop.create_task(self._keep(loop, session)))
            return pool.session

    async def _keep(self, loop: asyncio.AbstractEventLoop, session: Any) -> None:
        try:
            await loop.create_future()  # until cancelled: by the loop's shutdown, or by close()
        finally:
            with self._lock:
                if (pool := self._pools.get(loop)) is not None and pool.session is session:
                    del self._pools[loop]
            await session.close()

    def close(self) -> None:
        """Close the sessions of every event loop; from sync code, or from a coroutine (where
        the current loop's session closes as soon as the coroutine yields)."""
        self._forget_parent()
        with self._lock:
            pools = list(self._pools.items())
        try:
            current = asyncio.get_running_loop()
        except RuntimeError:
            current = None
        for loop, pool in pools:
            try:
                if loop is current or not loop.is_running():
                    loop.call_soon_threadsafe(pool.keeper.cancel)  # runs when the loop next does
                    continue
                asyncio.run_coroutine_threadsafe(_cancel(pool.keeper), loop).result(timeout=_CLOSE_WAIT_S)
            except RuntimeError:  # the loop was closed without shutting down: nothing can run there
                with self._lock:
                    self._pools.pop(loop, None)
            except (TimeoutError, concurrent.futures.CancelledError):
                pass  # a loop too busy to answer, or shutting down: its shutdown closes the session

    def _forget_parent(self) -> None:
        """In a forked child, the parent's loops and sessions are copies nobody runs: drop them."""
        if self._pid != os.getpid():
            self._pid, self._pools, self._lock = os.getpid(), {}, threading.Lock()


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
