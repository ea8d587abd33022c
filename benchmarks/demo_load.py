"""Load test of a zoo demo: N requests from C concurrent gradio_client clients, on 127.0.0.1 only.

Starts the demo in this process (the same code path as `zoo demo`: prepare -> onnxruntime session ->
Blocks app with its queue and request batching) on a free localhost port, or targets a running demo with
--url (localhost only). Each client thread has its own gradio_client.Client and sends the model's example
inputs through its first API endpoint until N requests are done. Reports errors, p50/p95/max latency,
throughput and, in-process, how many requests shared a model call.

    python benchmarks/demo_load.py --source runs/siamese/<time>            # 200 requests, 20 clients
    python benchmarks/demo_load.py --source runs/siamese/<time> --backend torch --json load.json
    python benchmarks/demo_load.py --url http://127.0.0.1:7860 --model siamese --source runs/siamese/<time>
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

MAX_REQUESTS = 5000
MAX_CLIENTS = 64
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


def request_plan(model: Any) -> tuple[str, list[tuple[Any, ...]]]:
    """(API endpoint, argument tuples to cycle through) for a model's first endpoint, from its examples."""
    from gradio_client import handle_file

    kind, examples = model.kind, model.examples
    if kind == "image-pair" and examples.get("pairs"):
        return f"/{model.name}_compare", [(handle_file(a), handle_file(b)) for a, b in examples["pairs"]]
    if kind == "image-classifier" and examples.get("images"):
        return f"/{model.name}_classify", [(handle_file(p),) for p in examples["images"]]
    if kind == "tabular" and examples.get("rows"):
        from demos.tabular import feature_names

        headers = feature_names(model)
        return f"/{model.name}_classify", [({"headers": headers, "data": [row]},) for row in examples["rows"]]
    raise SystemExit(f"no example inputs to send for {model.name} (kind {kind}); its data set is not available here.")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def hammer(url: str, endpoint: str, plan: list[tuple[Any, ...]], requests: int, clients: int) -> dict[str, Any]:
    from gradio_client import Client

    latencies: list[float] = []
    errors: list[str] = []
    counter = iter(range(requests))
    lock = threading.Lock()
    ready = threading.Barrier(clients + 1)

    def worker() -> None:
        client = Client(url, verbose=False)
        ready.wait()
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            started = time.perf_counter()
            try:
                client.predict(*plan[i % len(plan)], api_name=endpoint)
                with lock:
                    latencies.append(time.perf_counter() - started)
            except Exception as exc:  # noqa: BLE001 - every failure is counted and reported
                with lock:
                    errors.append(f"{type(exc).__name__}: {str(exc)[:120]}")

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    ready.wait()
    started = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    ms = [x * 1000 for x in latencies]
    return {
        "requests": requests, "clients": clients, "endpoint": endpoint, "ok": len(latencies), "errors": len(errors),
        "error_samples": sorted(set(errors))[:5], "wall_seconds": round(wall, 2),
        "throughput_rps": round(len(latencies) / wall, 1) if wall else None,
        "latency_ms": {"p50": round(percentile(ms, 50), 1), "p95": round(percentile(ms, 95), 1),
                       "mean": round(statistics.fmean(ms), 1), "max": round(max(ms), 1)} if ms else None,
    }


def serve(args: argparse.Namespace, port: int, examples_dir: Path, pipe: Any) -> None:
    """Child process: the demo server (as `zoo demo` builds it); on "stop", report the batching counters."""
    from demos.app import allowed_folders, build_app, launch
    from demos.prepare import demo_model, prepare

    model = demo_model(prepare(args.source, expected=args.model, backend=args.backend, examples_dir=examples_dir,
                               log=lambda *_: None), threads=args.threads)
    app = launch(build_app([model], "load test"), host="127.0.0.1", port=port, block=False,
                 allowed_paths=allowed_folders([model], examples_dir))
    pipe.send("ready")
    pipe.recv()
    pipe.send({"calls": getattr(model.predict, "calls", None), "rows": getattr(model.predict, "rows", None)})
    app.close()


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", required=True, help="Run directory, FILE.onnx or hf://OWNER/NAME of the model to serve.")
    parser.add_argument("--model", default=None, help="Expected model name (checked against the source).")
    parser.add_argument("--backend", default="onnx", choices=["onnx", "torch"])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--threads", type=int, default=None, help="onnxruntime intra-op threads (default: its choice).")
    parser.add_argument("--url", default=None, help="A running demo on this machine (http://127.0.0.1:PORT); default: start one.")
    parser.add_argument("--json", type=Path, default=None, help="Also write the figures here.")
    args = parser.parse_args(argv)
    if not 1 <= args.requests <= MAX_REQUESTS or not 1 <= args.clients <= MAX_CLIENTS:
        parser.error(f"--requests must be 1..{MAX_REQUESTS} and --clients 1..{MAX_CLIENTS}")
    if args.url and urlparse(args.url).hostname not in LOCAL_HOSTS:
        parser.error("--url must point at this machine (127.0.0.1 / localhost): this benchmark loads only local servers")

    import multiprocessing
    import socket

    from demos.prepare import demo_model, prepare

    examples_dir = Path(tempfile.mkdtemp(prefix="zoo-demo-load-"))
    # The client side needs the model's examples only; the server runs in its own process, as in deployment,
    # so the 20 client threads do not compete with it for this interpreter's GIL.
    model = demo_model(prepare(args.source, expected=args.model, backend="onnx" if args.url else args.backend,
                               examples_dir=examples_dir, log=lambda *_: None))
    endpoint, plan = request_plan(model)
    server, pipe, url = None, None, args.url
    if url is None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        pipe, child_end = multiprocessing.get_context("spawn").Pipe()
        server = multiprocessing.get_context("spawn").Process(target=serve, args=(args, port, examples_dir, child_end), daemon=True)
        server.start()
        if not pipe.poll(300) or pipe.recv() != "ready":
            raise SystemExit("the demo server did not start within 300 s")
        url = f"http://127.0.0.1:{port}/"
    try:
        hammer(url, endpoint, plan, min(args.clients, 10), min(args.clients, 10))  # warm-up, not counted
        counters: dict[str, Any] = {}
        result = hammer(url, endpoint, plan, args.requests, args.clients)
    finally:
        if pipe is not None and server is not None:
            pipe.send("stop")
            counters = pipe.recv() if pipe.poll(60) else {}
            server.join(30)
    if counters.get("calls"):
        result["model_calls_incl_warmup"] = counters["calls"]
        result["mean_rows_per_call"] = round(counters["rows"] / counters["calls"], 2)
    result.update(model=model.name, backend=args.backend, source=args.source)
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return result


if __name__ == "__main__":
    main()
