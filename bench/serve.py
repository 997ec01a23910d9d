"""Serving over loopback: concurrent streaming chat requests to our OpenAI-compatible server.

`scholar serve-model` runs the default model in a subprocess on a free loopback port; at each
level (1, 4 and 8 streams) that many clients send streaming chat requests at once, greedy, each
generating exactly --new-tokens tokens, from the same prompts at every level. Reported per level:
the aggregate tokens/s (all streams' tokens over the wall time from the first request to the last
token), the median time to first token, and the aggregate against the single-stream aggregate of
the same run (the reference). Medians over --repeats rounds.

    python bench/serve.py [--new-tokens 96] [--levels 1,4,8] [--repeats 3] [--threads N] [--json]
"""

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = [
    "Write a short story about a robot who learns to paint.",
    "Explain how photosynthesis works to a ten-year-old.",
    "What causes volcanic eruptions, and how are people warned?",
    "Describe the architecture of a Gothic cathedral.",
    "Explain the offside rule in football.",
    "Why is the sky blue during the day and red at sunset?",
    "Give three tips for writing a good research paper.",
    "How does a refrigerator keep food cold?",
]
START_TIMEOUT_S = 600


@dataclass(frozen=True)
class StreamResult:
    sent: float
    first_token: float
    done: float
    tokens: int


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(args: argparse.Namespace, home: Path, port: int) -> subprocess.Popen[bytes]:
    env = os.environ | {"SCHOLAR_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    env.setdefault("SCHOLAR_MODELS_DIR", str(home / "models"))
    if args.threads:
        env["OMP_NUM_THREADS"] = str(args.threads)
    command = [sys.executable, "-m", "app.cli", "serve-model", "--port", str(port)]
    command += ["--max-batch", str(max(args.levels))]
    server = subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.PIPE)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            assert server.stderr is not None
            sys.exit(f"the server exited:\n{server.stderr.read().decode()[-4000:]}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/health")
            if connection.getresponse().status == 200:
                return server
        except OSError:
            time.sleep(0.5)
    server.kill()
    sys.exit(f"the server did not start within {START_TIMEOUT_S} s")


def one_stream(port: int, question: str, new_tokens: int) -> StreamResult:
    body = {
        "messages": [{"role": "user", "content": question}],
        "max_tokens": new_tokens,
        "temperature": 0,
        "ignore_eos": True,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    sent = time.perf_counter()
    connection.request("POST", "/v1/chat/completions", json.dumps(body))
    response = connection.getresponse()
    first, tokens = 0.0, 0
    for line in response:
        if not line.startswith(b"data: {"):
            continue
        event = json.loads(line[6:])
        if event.get("usage"):
            tokens = event["usage"]["completion_tokens"]
        elif not first and event["choices"][0]["delta"].get("content"):
            first = time.perf_counter()
    done = time.perf_counter()
    connection.close()
    return StreamResult(sent, first or done, done, tokens)


def run_level(port: int, streams: int, new_tokens: int) -> list[StreamResult]:
    results: list[StreamResult] = []
    barrier = threading.Barrier(streams)

    def client(index: int) -> None:
        barrier.wait()
        results.append(one_stream(port, QUESTIONS[index % len(QUESTIONS)], new_tokens))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(streams)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def measure(port: int, args: argparse.Namespace) -> list[dict[str, Any]]:
    run_level(port, max(args.levels), 8)  # warm-up: every batch size's kernels
    rows = []
    for streams in args.levels:
        rates, ttfts = [], []
        for _ in range(args.repeats):
            results = run_level(port, streams, args.new_tokens)
            assert all(r.tokens == args.new_tokens for r in results), "a stream came up short"
            wall = max(r.done for r in results) - min(r.sent for r in results)
            rates.append(sum(r.tokens for r in results) / wall)
            ttfts += [(r.first_token - r.sent) * 1000 for r in results]
        rows.append(
            {
                "streams": streams,
                "tok_s": statistics.median(rates),
                "ttft_ms": statistics.median(ttfts),
            }
        )
    single = next((row["tok_s"] for row in rows if row["streams"] == 1), rows[0]["tok_s"])
    for row in rows:
        row["per_stream_tok_s"] = row["tok_s"] / row["streams"]
        row["vs_single"] = row["tok_s"] / single
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--new-tokens", type=int, default=96)
    parser.add_argument("--levels", default="1,4,8", help="concurrent streams, comma-separated")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="server torch threads (0: default)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    args.levels = [int(level) for level in args.levels.split(",")]
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as home:
        port = free_port()
        server = start_server(args, Path(home), port)
        try:
            rows = measure(port, args)
        finally:
            server.terminate()
            server.wait()
    report(args, rows, (load_before, os.getloadavg()[0]))


def report(args: argparse.Namespace, rows: list[dict[str, Any]], load: tuple[float, float]) -> None:
    eight = next((row for row in rows if row["streams"] == 8), None)
    summary = {"levels": rows, "new_tokens": args.new_tokens, "load_avg": load}
    summary["target_met"] = None if eight is None else eight["vs_single"] >= 3.0
    if args.json:
        print(json.dumps(summary))
        return
    threads = f"{args.threads} torch threads" if args.threads else "default torch threads"
    print(
        f"scholar serve-model, SmolLM2-135M-Instruct, CPU ({os.cpu_count()} cores, {threads}, "
        f"load average {load[0]:.1f} before, {load[1]:.1f} after); streaming chat over loopback, "
        f"greedy, {args.new_tokens} new tokens per stream; medians of {args.repeats}\n"
    )
    print(
        f"| {'streams':>7} | {'tokens/s':>8} | {'per stream':>10} | {'TTFT (ms)':>9} | vs 1 stream"
    )
    print(f"|{'-' * 9}|{'-' * 10}|{'-' * 12}|{'-' * 11}|------------")
    for row in rows:
        print(
            f"| {row['streams']:>7} | {row['tok_s']:>8.1f} | {row['per_stream_tok_s']:>10.1f} | "
            f"{row['ttft_ms']:>9.0f} | {row['vs_single']:>10.2f}x"
        )
    if eight is not None:
        verdict = "met" if summary["target_met"] else "NOT met"
        print(f"\ntarget, 8 streams at least 3x one stream: {verdict} ({eight['vs_single']:.2f}x)")


if __name__ == "__main__":
    main()
