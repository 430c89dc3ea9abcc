"""Dataset filtering as a Ray Data stage: many actors, each with its own judge, one ordered output.

    import ray
    from rrm_select import KnockoutSelector, LiteLLMJudge
    from rrm_select.ray_stage import select_dataset

    def make_selector():  # runs once in each actor
        judge = LiteLLMJudge("hosted_vllm/Reward-Reasoning/RRM-7B", api_base=[...], max_concurrency=64)
        return KnockoutSelector(judge, votes=3, seed=0)

    events = select_dataset(ray.data.read_parquet("rows.parquet"), make_selector, seed=0, concurrency=8)

Every row goes through the same steps as in `rrm-select filter` (`FilterJob`: row checks, the
row's seed derived from `seed` and its id, `emit`), so a row gives the same records on Ray as
in one process. `filter_on_ray` is what ``rrm-select filter --ray`` runs: it writes those
records to the same output files, in input order, with the same resume rules.

Ray is an optional extra (``pip install 'rrm-select[ray]'``), imported on first use.
"""

from __future__ import annotations

import base64
import json
import os
import pickle
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from rrm_select import InvalidArgumentError, MissingDependencyError, RRMError, Selector, Usage, run_sync
from rrm_select.filter.dataset import Emit, Fields, JsonlSink
from rrm_select.filter.job import FilterJob, FilterStats, rows_to_do


def import_ray() -> Any:
    """Ray, imported on first use."""
    try:
        import ray
        import ray.data  # the Data library ships as an extra of ray
    except ImportError as exc:
        raise MissingDependencyError("running on Ray needs ray[data]: pip install 'rrm-select[ray]'") from exc
    return ray


class _Collected(JsonlSink):
    """A sink that hands what `FilterJob` writes to `events`, one entry per row, in the order
    written (the input order, outputs, statistics and rejects interleaved as on disk)."""

    def __init__(self, kind: str, events: list[tuple[str, list[dict[str, Any]]]]) -> None:
        self.done: set[str] = set()  # no file: an actor's results travel back through Ray
        self.kind = kind
        self.events = events

    def write(self, records: Iterable[dict[str, Any]]) -> None:
        self.events.append((self.kind, list(records)))  # empty too: a row with no pairs still counts

    def close(self) -> None:
        pass


class SelectionStage:
    """The Ray Data callable class: builds its selector (and so its judge) once per actor.

    Each batch of rows runs as one `FilterJob`: all its rows' selections at once, sharing the
    actor's judge. It returns one event per row (``kind`` ``"output"`` or ``"rejects"``, the row
    ``id`` and its ``records`` as JSON), a ``"stats"`` event after each output one (the row's
    `RowStats`), and one ``"usage"`` event with the batch's judge usage.
    With `report_errors`, an `RRMError` (the judge unreachable, a bad option) ends the batch with
    an ``"error"`` event after the rows finished before it, instead of failing the Ray task (whose
    error reaches the driver only as text): the event holds the error pickled, its attributes
    (status, attempts, ...) included, and the driver raises it as it was.
    """

    def __init__(
        self,
        make_selector: Callable[[], Selector],
        fields: Fields,
        emit: Emit,
        margin: float | None,
        seed: int,
        json_column: str | None,
        report_errors: bool = False,
    ) -> None:
        self.make_selector = make_selector
        self.selector: Selector | None = None  # built by the first batch, so its errors are reported too
        self.fields, self.emit, self.margin, self.seed = fields, emit, margin, seed
        self.json_column = json_column
        self.report_errors = report_errors

    def __call__(self, batch: Any) -> dict[str, list[str]]:
        written: list[tuple[str, list[dict[str, Any]]]] = []
        try:
            if self.selector is None:
                self.selector = self.make_selector()
            raws = [self._raw(row) for row in batch.to_pylist()]
            job = FilterJob(self.selector, _Collected("output", written), _Collected("rejects", written),
                            fields=self.fields, mode=self.emit, margin=self.margin, seed=self.seed,
                            window=max(1, len(raws)), row_stats=_Collected("stats", written))  # fmt: skip
            last = ("usage", run_sync(job.run(raws)).usage.model_dump_json())
        except RRMError as exc:
            if not self.report_errors:
                raise
            last = ("error", base64.b64encode(pickle.dumps(exc)).decode("ascii"))
        events: dict[str, list[str]] = {
            "kind": [kind for kind, _ in written] + [last[0]],
            "id": [str(records[0]["id"]) if records else "" for _, records in written] + [""],
            "records": [json.dumps(records) for _, records in written] + [last[1]],
        }
        return events

    def _raw(self, row: dict[str, Any]) -> dict[str, Any]:
        if self.json_column is not None:
            row = json.loads(row[self.json_column])
            row = row if isinstance(row, dict) else {"_not_an_object": row}
        if self.fields.id not in row:
            # Outside one process a row has no position to be numbered by: ids must be given.
            raise InvalidArgumentError(f"every row needs an id field {self.fields.id!r} on Ray")
        return row


def select_dataset(
    dataset: Any,
    make_selector: Callable[[], Selector],
    *,
    fields: Fields | None = None,
    emit: Emit = "best",
    margin: float | None = None,
    seed: int = 0,
    json_column: str | None = None,
    report_errors: bool = False,
    batch_size: int = 64,
    concurrency: int = 1,
    num_cpus: float = 0.5,
    num_gpus: float = 0,
    env: Mapping[str, str] | None = None,
) -> Any:
    """Map a Ray dataset of rows to selection records, in the order of the input.

    Args:
        dataset: a ``ray.data.Dataset`` whose rows hold a query, candidates and an id (see
            `Fields`); or rows with one JSON text column (`json_column`), e.g. from
            ``ray.data.read_text`` on a JSONL file whose rows differ in shape.
        make_selector: builds the selector and its judge; called once in each actor (a
            `VLLMJudge` on a GPU actor, or an endpoint client such as `LiteLLMJudge`).
        fields, emit, margin: as in ``rrm-select filter`` (`rrm_select.filter.dataset`).
        seed: the run's seed; each row's selection uses one derived from it and the row's id.
        report_errors: turn a judge failure into an ``"error"`` event (see `SelectionStage`)
            instead of failing the run.
        batch_size: rows one actor judges at once (its selections share its judge's batches).
        concurrency: the number of actors.
        num_cpus, num_gpus: resources per actor (an endpoint client mostly waits on the network;
            an in-process vLLM judge wants ``num_gpus=1``).
        env: environment variables for the actors (e.g. the judge's API key).

    Returns:
        A ``ray.data.Dataset`` of events with ``kind`` (``"output"``, ``"stats"``, ``"rejects"``
        or ``"usage"``; ``"error"`` with `report_errors`), ``id`` (empty where a row has no records, e.g. no pair to emit) and
        ``records`` (JSON: the records `rrm-select filter` writes for the row, or the batch's
        `Usage`). Rows run concurrently; the events come out in input order.
    """
    ray = import_ray()
    if batch_size < 1 or concurrency < 1:
        raise InvalidArgumentError(f"batch_size and concurrency must be >= 1, got {batch_size}, {concurrency}")
    dataset.context.execution_options.preserve_order = True  # output in input order, as on disk
    return dataset.map_batches(
        SelectionStage,
        fn_constructor_args=(make_selector, fields or Fields(), emit, margin, seed, json_column, report_errors),
        batch_size=batch_size,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=concurrency),
        num_cpus=num_cpus,
        num_gpus=num_gpus,
        runtime_env={"env_vars": dict(env)} if env else None,
    )


def filter_on_ray(
    rows: Iterable[dict[str, Any]],
    make_selector: Callable[[], Selector],
    output: JsonlSink,
    rejects: JsonlSink,
    stats: FilterStats,
    *,
    row_stats: JsonlSink | None = None,
    on_progress: Callable[[FilterStats], None] | None = None,
    address: str | None = None,
    **options: Any,
) -> FilterStats:
    """`FilterJob.run` on Ray: rows already in `output` or `rejects` are skipped, the rest are
    judged by `select_dataset` (given `options`) and appended in input order, so the files end
    up as a single-process run writes them, however often the run was stopped and resumed.

    Uses the Ray cluster this process is connected to, else the one at `address`, else a local
    one started (and stopped) here."""
    ray = import_ray()
    fields: Fields = options.setdefault("fields", Fields())
    started_ray = not ray.is_initialized()
    try:
        with tempfile.TemporaryDirectory(prefix="rrm-select-ray-") as tmp:
            pending = Path(tmp) / "rows.jsonl"
            with pending.open("w", encoding="utf-8") as out:
                for _, rid, raw in rows_to_do(rows, fields, output, rejects, stats):
                    out.write(json.dumps({fields.id: rid, **raw}) + "\n")  # the id travels with the row
            if not pending.stat().st_size:  # every row is done already: no cluster needed
                return stats
            if started_ray:
                ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
            ray.data.DataContext.get_current().enable_progress_bars = False
            events = select_dataset(
                ray.data.read_text(str(pending)), make_selector, json_column="text", report_errors=True, **options
            )
            for event in events.iter_rows():
                _apply(event, output, rejects, row_stats, stats)
                if on_progress is not None and event["kind"] in ("output", "rejects"):
                    on_progress(stats)
    finally:
        output.close()
        rejects.close()
        if row_stats is not None:
            row_stats.close()
        if started_ray and ray.is_initialized():
            ray.shutdown()
    return stats


def _apply(
    event: dict[str, Any], output: JsonlSink, rejects: JsonlSink, row_stats: JsonlSink | None, stats: FilterStats
) -> None:
    if event["kind"] == "error":  # raised here as the actor raised it; rows before it are written
        raise pickle.loads(base64.b64decode(event["records"]))
    if event["kind"] == "usage":
        stats.usage = stats.usage + Usage.model_validate_json(event["records"])
        return
    records = json.loads(event["records"])
    if event["kind"] == "output":
        output.write(records)
        stats.written += 1
    elif event["kind"] == "stats":
        if row_stats is not None:
            row_stats.write(records)
    else:
        rejects.write(records)
        stats.rejected += 1


def actor_env(names: Iterable[str]) -> dict[str, str]:
    """The variables among `names` that are set here, to hand to actors on other machines."""
    return {name: os.environ[name] for name in names if name in os.environ}
