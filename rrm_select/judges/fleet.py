"""Several servers of one judge behind a litellm `Router`, each with its own concurrency limit.

The Router owns what it does well: the deployment list, health (a deployment that fails is put
in cooldown and left out of picks until it recovers), provider translation and client caching.
Calls go through the Router to one named deployment, so it records every success and failure.

What the Router cannot do is wait: its per-deployment ``max_parallel_requests`` answers a full
deployment with a 429 instead of a queue, which under load turns into cooldowns of healthy
servers. So each deployment here has a waiting limit, and a request joins the shortest queue
(relative to capacity) among the deployments the Router calls healthy. Retries stay with the
judge's `RetryPolicy`: the next attempt re-picks, so a request that failed on a server that was
then cooled down goes to another one.
"""

from __future__ import annotations

import random
import threading
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from rrm_select.errors import InvalidArgumentError
from rrm_select.judges.backend import check_positive_int
from rrm_select.judges.limit import ConcurrencyLimit
from rrm_select.judges.litellm_transport import (
    call_litellm,
    check_litellm_kwargs,
    import_litellm,
    litellm_call,
    litellm_settings,
)
from rrm_select.judges.transport import EndpointReply, EndpointRequest, Transport


@dataclass(eq=False)  # compared by identity: one object per deployment
class _Deployment:
    id: str
    api_base: str
    model: str
    api_key: str | None
    limit: ConcurrencyLimit
    load: int = 0
    """Requests holding or waiting for this deployment's slots."""


class FleetTransport(Transport):
    """The deployments of one Router model group, with a waiting concurrency limit each.

    Args:
        router: a ``litellm.Router``; build one with `FleetTransport.of_servers` for plain
            server lists.
        group: the Router's model name for the judge's deployments.
        max_concurrency: requests in flight per deployment, unless the deployment's
            ``litellm_params`` set ``max_parallel_requests``.
        **litellm_kwargs: passed to every Router call unchanged.
    """

    kind = "litellm"

    def __init__(self, router: Any, group: str, max_concurrency: int = 64, **litellm_kwargs: Any) -> None:
        check_positive_int("max_concurrency", max_concurrency)
        check_litellm_kwargs(litellm_kwargs)
        entries = _deployments(router, group)
        if not entries:
            raise InvalidArgumentError(f"the router has no deployments for model {group!r}")
        self.router = router
        self.group = group
        self.litellm_kwargs = litellm_kwargs
        self._lock = threading.Lock()
        self.deployments: dict[str, _Deployment] = {}
        for entry in entries:
            params = entry["litellm_params"]
            capacity = params.get("max_parallel_requests") or max_concurrency
            deployment_id = str(entry["model_info"]["id"])
            self.deployments[deployment_id] = _Deployment(
                deployment_id, str(params.get("api_base")), str(params["model"]), params.get("api_key"),
                ConcurrencyLimit(int(capacity)),
            )  # fmt: skip

    @classmethod
    def of_servers(
        cls, model: str, api_bases: Sequence[str], api_key: str | None, max_concurrency: int, **litellm_kwargs: Any
    ) -> FleetTransport:
        """A fleet of identical servers of `model` (a litellm model name), one per API base."""
        if not api_bases:
            raise InvalidArgumentError("api_base is an empty list: give at least one endpoint")
        if len(set(api_bases)) != len(api_bases):
            raise InvalidArgumentError(f"api_base lists a server twice: {list(api_bases)}")
        model_list = [
            {"model_name": model, "litellm_params": {"model": model, "api_base": base, "api_key": api_key}}
            for base in api_bases
        ]
        # num_retries=0: retries are the judge's own (RetryPolicy, Retry-After), counted per request.
        # allowed_fails=0: a judge server that fails once sits out the router's cooldown (5 s by
        # default), so a dead one costs a few failed attempts, not a stream of them.
        router = import_litellm().Router(model_list=model_list, num_retries=0, allowed_fails=0)
        return cls(router, model, max_concurrency, **litellm_kwargs)

    @property
    def model(self) -> str:
        return self.group

    @property
    def models(self) -> list[str]:
        """The distinct litellm models behind the group (one for a fleet of the same judge)."""
        return sorted({d.model for d in self.deployments.values()})

    @property
    def endpoint(self) -> str:
        bases = ", ".join(d.api_base for d in self.deployments.values())
        return f"{len(self.deployments)} servers ({bases})"

    @property
    def secrets(self) -> list[str]:
        """API keys of the deployments, to mask in error messages."""
        return [d.api_key for d in self.deployments.values() if d.api_key]

    def settings(self, extra_body: dict[str, Any]) -> dict[str, object]:
        # Votes depend on the model, not on which server produced them: a fleet of one model
        # shares its judgments (and cache entries) with a single server of that model.
        models = self.models
        return litellm_settings(models[0] if len(models) == 1 else models, self.litellm_kwargs, extra_body)

    async def send(self, request: EndpointRequest) -> EndpointReply:
        async with self._lane() as deployment:
            call = litellm_call(self.router, request)
            return await call_litellm(call, request, self.endpoint, model=deployment.id, **self.litellm_kwargs)

    @asynccontextmanager
    async def _lane(self) -> AsyncIterator[_Deployment]:
        """Hold a slot on the least loaded healthy deployment."""
        while True:
            chosen = self._pick(await self._healthy())
            try:
                async with chosen.limit:
                    # A request may wait in a deployment's queue while the deployment fails; it
                    # then moves to a healthy one instead of failing there itself.
                    healthy = await self._healthy()
                    if chosen in healthy or not healthy:
                        yield chosen
                        return
            finally:
                with self._lock:
                    chosen.load -= 1

    async def _healthy(self) -> list[_Deployment]:
        """The deployments the router would pick from now (those not in cooldown)."""
        from litellm.types.router import RouterRateLimitError

        try:
            entries = await _healthy_entries(self.router, self.group)
        except RouterRateLimitError:  # every deployment is in cooldown
            return []
        ids = (str(entry["model_info"]["id"]) for entry in entries)
        return [self.deployments[i] for i in ids if i in self.deployments]

    def _pick(self, healthy: list[_Deployment]) -> _Deployment:
        # All in cooldown: try them all rather than fail without a request (one may be back).
        candidates = healthy or list(self.deployments.values())
        with self._lock:
            least = min(d.load / d.limit.limit for d in candidates)
            chosen = random.choice([d for d in candidates if d.load / d.limit.limit == least])
            chosen.load += 1
        return chosen


# litellm 1.110 moved the Router's lookups behind `registry()` and `select()`; the proxy extra
# installs litellm 1.108, which has only the older names. Both are within the pin.
def _deployments(router: Any, group: str) -> list[Any]:
    if hasattr(router, "registry"):
        return list(router.registry().deployments(group))
    return list(router.get_model_list(model_name=group) or [])


async def _healthy_entries(router: Any, group: str) -> list[Any]:
    if hasattr(router, "registry"):
        return list(await router.select(model=group, kind="healthy"))
    entries = await router.async_get_healthy_deployments(model=group, request_kwargs={})
    return [entries] if isinstance(entries, dict) else list(entries)
