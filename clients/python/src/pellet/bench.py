"""Measures the Python client against a pelletd on its Unix socket:

- Route's p50 and p99 at one call in flight, and Health's (the lightest call);
- Route calls per second from several threads sharing one client;
- next to pelletctl's round trip on the same socket (``pelletctl ping --count N``), measured in
  the same run.

    python -m pellet.bench                      # starts its own pelletd and mock providers
    python -m pellet.bench --address unix:./pellet-data/pellet.sock --api-key plt_...
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional

import pellet
from pellet import _harness

PROMPT = "Write a SQL query that lists the ten largest orders by total"


def percentile(sorted_values: List[float], fraction: float) -> float:
    """Nearest rank, as pelletctl computes its p50."""
    rank = max(1, int(round(fraction * len(sorted_values) + 0.4999)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def one_in_flight(call: Callable[[], object], count: int) -> Dict[str, float]:
    for _ in range(min(200, count)):  # warm up: connection, code paths, the server's caches
        call()
    times = []
    for _ in range(count):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1e6)
    times.sort()
    return {"p50_us": percentile(times, 0.5), "p99_us": percentile(times, 0.99)}


def threads_sharing(client: pellet.Client, threads: int, seconds: float) -> float:
    stop_at = time.monotonic() + seconds
    counts = [0] * threads

    def work(index: int) -> None:
        done = 0
        while time.monotonic() < stop_at:
            client.route(PROMPT)
            done += 1
        counts[index] = done

    started = time.perf_counter()
    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sum(counts) / (time.perf_counter() - started)


def pelletctl_ping(pelletctl: Path, address: str, count: int) -> Dict[str, float]:
    shown = subprocess.run([str(pelletctl), "ping", "--server", address, "--count", str(count), "--json"],
                           capture_output=True, text=True, check=True)
    summary = json.loads(shown.stdout)
    return {"p50_us": float(summary["p50_us"])}


def measure(address: str, api_key: str, pelletctl: Optional[Path], count: int, threads: int,
            seconds: float) -> Dict[str, object]:
    results: Dict[str, object] = {}
    with pellet.Client(address, api_key=api_key) as client:
        # Interleaved, so that a change in the machine's load touches both sides alike.
        if pelletctl is not None:
            results["pelletctl_ping"] = pelletctl_ping(pelletctl, address, count)
        results["python_route"] = one_in_flight(lambda: client.route(PROMPT), count)
        results["python_health"] = one_in_flight(client.health, count)
        if pelletctl is not None:
            again = pelletctl_ping(pelletctl, address, count)
            results["pelletctl_ping"] = {"p50_us": min(results["pelletctl_ping"]["p50_us"],  # type: ignore[index]
                                                       again["p50_us"])}
        results[f"python_route_{threads}_threads_calls_per_s"] = threads_sharing(client, threads, seconds)
    if pelletctl is not None:
        floor = results["pelletctl_ping"]["p50_us"]  # type: ignore[index]
        results["route_p50_over_pelletctl_ping_p50"] = results["python_route"]["p50_us"] / floor  # type: ignore
    return results


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pellet.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--address", help="a running pelletd (unix:PATH); default: start one with mock providers")
    parser.add_argument("--api-key", help="with --address: the key to call Route with (default $PELLET_API_KEY)")
    parser.add_argument("--pelletctl", type=Path, help="pelletctl binary (default: the Swift build's)")
    parser.add_argument("--count", type=int, default=2000, help="calls for each one-in-flight figure")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=3.0, help="length of the threads run")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    options = parser.parse_args(argv)

    pelletctl = options.pelletctl
    if pelletctl is None:
        try:
            pelletctl = _harness.binary_directory() / "pelletctl"
        except RuntimeError:
            pelletctl = None
    if pelletctl is not None and not pelletctl.exists():
        pelletctl = None

    mocks: Dict[str, _harness.MockProvider] = {}
    server = None
    try:
        if options.address:
            address, api_key = options.address, options.api_key
        else:
            mocks = _harness.start_mocks()
            server = _harness.Pelletd(Path(tempfile.mkdtemp(prefix="pellet-bench-")) / "data", mocks).start()
            address = server.address
            with pellet.Client(address, admin_token=_harness.ADMIN_TOKEN) as admin:
                account = admin.accounts.create(name="Bench", email="bench@example.com")
                api_key = admin.keys.create(account.id, name="bench").secret
        results = measure(address, api_key, pelletctl, options.count, options.threads, options.seconds)
    finally:
        if server is not None:
            server.stop()
        for mock in mocks.values():
            mock.stop()

    if options.json:
        print(json.dumps(results, indent=2))
        return 0
    route, health = results["python_route"], results["python_health"]
    print(f"python Route, 1 in flight:   p50 {route['p50_us']:.0f} µs, p99 {route['p99_us']:.0f} µs")  # type: ignore
    print(f"python Health, 1 in flight:  p50 {health['p50_us']:.0f} µs, "  # type: ignore
          f"p99 {health['p99_us']:.0f} µs")  # type: ignore
    rate = results[f"python_route_{options.threads}_threads_calls_per_s"]
    print(f"python Route, {options.threads} threads, one client: {rate:,.0f} calls/s")
    if "pelletctl_ping" in results:
        print(f"pelletctl ping round trip:   p50 {results['pelletctl_ping']['p50_us']:.0f} µs")  # type: ignore
        print(f"python Route p50 / pelletctl ping p50: {results['route_p50_over_pelletctl_ping_p50']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
