"""Dataset filtering at scale: rows/s and peak memory of `rrm-select filter` against a fast
loopback judge, for a small and a large input (memory must stay flat as rows grow).

    python benchmarks/filter_scale.py                 # 1,000 and 10,000 rows x N=4, knockout, k=1
    python benchmarks/filter_scale.py --client http   # the same through HTTPJudge instead of litellm

The judge is the test suite's fake OpenAI-compatible server (deterministic verdicts, no delay),
run in its own process so that it does not share the CLI's CPU time.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from fake_openai import FakeOpenAIServer, Reply, rrm_choice


def _serve(port_out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    with FakeOpenAIServer(lambda body: Reply(choices=[rrm_choice(1)] * body.get("n", 1))) as server:
        port_out.put(server.api_base)
        while True:
            time.sleep(3600)


def write_rows(path: Path, count: int, candidates: int) -> None:
    with path.open("w") as out:
        for i in range(count):
            answers = [f"Answer {j} to question {i}: " + "some reasoning. " * 20 for j in range(candidates)]
            out.write(json.dumps({"id": i, "prompt": f"Question {i}: explain something.", "responses": answers}) + "\n")


def run(rows: int, candidates: int, api_base: str, workdir: Path, client: str) -> dict[str, float]:
    source, output = workdir / f"in-{rows}.jsonl", workdir / f"out-{rows}.jsonl"
    write_rows(source, rows, candidates)
    model = "judge" if client == "http" else "hosted_vllm/judge"
    command = [sys.executable, "-m", "rrm_select", "filter", str(source), "-o", str(output), "--no-cache",
               "--client", client, "--model", model, "--api-base", api_base, "--max-tokens", "64"]  # fmt: skip
    started = time.perf_counter()
    subprocess.run(command, check=True, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # the largest child so far
    written = sum(1 for _ in output.open())
    return {"rows": rows, "written": written, "wall_s": round(wall, 1), "rows_per_s": round(rows / wall, 1),
            "peak_rss_mib_so_far": round(peak_kib / 1024, 1)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--candidates", type=int, default=4)
    parser.add_argument("--client", choices=["litellm", "http"], default="litellm")
    args = parser.parse_args()
    ports: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    server = multiprocessing.Process(target=_serve, args=(ports,), daemon=True)
    server.start()
    api_base = ports.get(timeout=30)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            # sizes in increasing order: the children's peak RSS is a running maximum
            results = [run(n, args.candidates, api_base, Path(tmp), args.client) for n in sorted(args.sizes)]
    finally:
        server.terminate()
    workload = f"N={args.candidates}, knockout, k=1, loopback judge, {args.client} client"
    print(json.dumps({"workload": workload, "runs": results}, indent=2))


if __name__ == "__main__":
    main()
