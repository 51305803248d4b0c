"""tools/bench's peers (imported by tools/bench; not run on its own): other gateways measured on
the same nginx mock, in the same run, with the same load generator, only with --peers.

  litellm   LiteLLM's proxy (pinned below), installed from PyPI into a venv of its own under
            .build/peers/ (or $SCRATCH/peers/; reused while the pin is unchanged), started on a
            loopback port with a config this file writes: one OpenAI-compatible model entry,
            mock-model, whose api_base is the nginx mock; a master key (so every call is
            authenticated, as through pelletd); no telemetry; the local model cost map (no
            fetch from GitHub); 1 worker. pellet-load's lean client calls its
            /v1/chat/completions over HTTP/1.1 with `Authorization: Bearer <master key>`, as it
            calls the mock straight; at 8 in flight on 8 connections of one call each, since it
            answers one connection's pipelined requests one at a time (on 2026-12-08, pipelined
            on one connection: 83-84 calls/s, p50 90 ms; on eight: 84-95, p50 81-87 ms).
"""

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Pinned: the last 1.106 release, before the compromised 1.107.0 (withdrawn from PyPI); 1.108.x
# and 1.109.x pin litellm-proxy-extras releases the index did not serve on 2026-12-07.
LITELLM_VERSION = "1.106.12"
LITELLM_MASTER_KEY = "sk-pellet-bench-0123456789abcdef"
PEERS = ("litellm",)


class PeerError(Exception):
    pass


def log(message):
    print(f"bench: {message}", file=sys.stderr, flush=True)


def free_loopback_port():
    import socket
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def peers_directory():
    scratch = os.environ.get("SCRATCH")
    return os.path.join(scratch if scratch else os.path.join(ROOT, ".build"), "peers")


def install_litellm():
    """The venv's bin directory, LiteLLM installed in it (once per pin)."""
    venv = os.path.join(peers_directory(), f"litellm-{LITELLM_VERSION}-venv")
    marker = os.path.join(venv, "pellet-bench-installed")
    binary = os.path.join(venv, "bin", "litellm")
    if os.path.exists(marker) and os.access(binary, os.X_OK):
        return os.path.join(venv, "bin")
    requirement = f"litellm[proxy]=={LITELLM_VERSION}"
    log_path = os.path.join(peers_directory(), f"litellm-{LITELLM_VERSION}-install.log")
    log(f"installing {requirement} from PyPI into {venv} (once; a few minutes; pip's output: {log_path})")
    os.makedirs(os.path.dirname(venv), exist_ok=True)
    steps = [
        ([sys.executable, "-m", "venv", "--clear", venv], 120),
        ([os.path.join(venv, "bin", "pip"), "install", "--disable-pip-version-check", "--no-input", requirement], 1800),
    ]
    with open(log_path, "w") as output:
        for command, timeout in steps:
            output.write(f"$ {' '.join(command)}\n")
            output.flush()
            try:
                returncode = subprocess.run(command, stdout=output, stderr=subprocess.STDOUT, timeout=timeout).returncode
            except subprocess.TimeoutExpired:
                raise PeerError(f"--peers litellm: `{' '.join(command)}` took longer than {timeout} s "
                                f"(its output: {log_path})")
            if returncode != 0:
                text = tail(log_path, 25)
                hint = ""
                if any(word in text for word in ("gcc", "cc1", "Python.h", "cargo", "rustc", "Failed building wheel",
                                                  "failed-wheel-build", "subprocess-exited-with-error")):
                    hint = ("\nA dependency had no wheel for this platform and needed building from source (a C "
                            "compiler, python3-dev or Rust): install those, or pick another LITELLM_VERSION in "
                            "tools/bench_peers.py.")
                raise PeerError(f"--peers litellm: installing LiteLLM failed: `{' '.join(command)}` exited "
                                f"{returncode} (all its output: {log_path}):\n{text}{hint}")
    with open(marker, "w") as handle:
        handle.write(requirement + "\n")
    return os.path.join(venv, "bin")


def litellm_config(mock_url):
    # JSON is YAML: LiteLLM reads this with yaml.safe_load.
    return {
        "model_list": [{
            "model_name": "mock-model",
            "litellm_params": {"model": "openai/mock-model", "api_base": mock_url, "api_key": "bench"},
        }],
        "litellm_settings": {"telemetry": False},
        "general_settings": {"master_key": LITELLM_MASTER_KEY},
    }


def start_litellm(bench, mock_url, timeout=180):
    """LiteLLM's proxy on a free loopback port, ready (one real call answered): (process, URL)."""
    binaries = install_litellm()
    directory = os.path.join(bench.work, "litellm")
    os.makedirs(directory, exist_ok=True)
    config = os.path.join(directory, "config.yaml")
    with open(config, "w") as handle:
        json.dump(litellm_config(mock_url), handle, indent=2)
    port = free_loopback_port()
    log_path = os.path.join(directory, "litellm.log")
    environment = {
        "LITELLM_TELEMETRY": "False",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_LOG": "ERROR",
        "LITELLM_MODE": "PRODUCTION",  # no .env loading from the working directory
        "DISABLE_ADMIN_UI": "True",
        "PATH": binaries + os.pathsep + os.environ.get("PATH", ""),
    }
    process = bench.processes.start(
        [os.path.join(binaries, "litellm"), "--config", config, "--host", "127.0.0.1", "--port", str(port),
         "--num_workers", "1"],
        log_path, environment,
    )
    url = f"http://127.0.0.1:{port}"
    body = json.dumps({"model": "mock-model", "messages": [{"role": "user", "content": "ready?"}],
                       "max_tokens": 16}).encode()
    deadline = time.monotonic() + timeout
    last_error = "no answer"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise PeerError(f"LiteLLM exited ({process.returncode}):\n{tail(log_path)}")
        request = urllib.request.Request(
            f"{url}/v1/chat/completions", data=body, method="POST",
            headers={"content-type": "application/json", "authorization": f"Bearer {LITELLM_MASTER_KEY}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                answer = json.loads(response.read())
            if answer.get("choices"):
                return process, f"{url}/v1"
            last_error = f"an answer without choices: {answer}"
        except urllib.error.HTTPError as error:
            last_error = f"HTTP {error.code}: {error.read()[:500]!r}"
        except (OSError, ValueError) as error:
            last_error = str(error)
        time.sleep(0.5)
    raise PeerError(f"LiteLLM was not ready in {timeout} s ({last_error}):\n{tail(log_path)}")


def tail(path, lines=30):
    try:
        with open(path, errors="replace") as handle:
            return "\n".join(handle.read().splitlines()[-lines:])
    except OSError:
        return ""


def measure_litellm(bench, mock_url, straight, durability_modes):
    """LiteLLM's rows of the table: p50/p99 at 1 in flight and calls/s at 8, through its proxy to
    the same nginx mock; its overhead next to pelletd's from this run, and their ratio."""
    process, url = start_litellm(bench, mock_url)
    try:
        log("complete through LiteLLM's proxy (pellet-load's lean client over HTTP): 1 in flight, then 8")
        lean = ["--client", "lean"]
        through = bench.load(url, "complete", api_key=LITELLM_MASTER_KEY, extra=lean)
        through_rate = bench.load(url, "complete", connections=8, in_flight=1, api_key=LITELLM_MASTER_KEY, extra=lean)
    finally:
        bench.processes.stop(process)
    for report in (through, through_rate):
        # A proxy that answers errors fast would look fast: its figures count only if it served.
        if report["errors"] > 0.01 * max(1, report["completed"]):
            raise PeerError(f"LiteLLM answered {report['errors']} of {report['completed']} calls with errors: "
                            f"{report.get('statuses')} (its log: {os.path.join(bench.work, 'litellm', 'litellm.log')})")
    bench.table_rows.append((f"through LiteLLM {LITELLM_VERSION} (1 worker)", through, through_rate))
    for percentile in ("p50", "p99"):
        through_us, straight_us = through["latency_us"][percentile], straight["latency_us"][percentile]
        bench.record(f"table.litellm.{percentile}", through_us, "µs", straight_us, f"straight {percentile}",
                     f"closed loop, 1 in flight, LiteLLM {LITELLM_VERSION} over HTTP/1.1, lean client")
        bench.record(f"table.litellm.overhead.{percentile}", through_us - straight_us, "µs",
                     note=f"through {through_us:,} µs − straight {straight_us:,} µs")
    bench.record("table.litellm.rate_8_in_flight", round(through_rate["achieved_rate"]), "req/s",
                 round(bench.results["table.straight.rate_8_in_flight"]["value"]), "straight at 8 in flight",
                 f"closed loop, 8 connections × 1 in flight (not pipelined), lean client, "
                 f"{through_rate['errors']} errors")
    # The ratio at p50 (issue 17's target); a p99 difference is often within the noise of a shared
    # machine (pelletd's can come out at or under zero), so it is shown, not divided.
    litellm = bench.results["table.litellm.overhead.p50"]["value"]
    for durability in durability_modes:
        pelletd = bench.results[f"table.{durability}.overhead.p50"]["value"]
        bench.record(
            f"table.litellm.vs_{durability}.p50", round(litellm / pelletd, 1) if pelletd > 0 else 0.0, "×",
            note=f"LiteLLM's added latency at p50 {litellm:,} µs ÷ pelletd --durability {durability}'s {pelletd:,} µs"
            + ("" if pelletd > 0 else " (not positive: within the noise; shown as 0)")
            + "; issue 17's target: ≥ 200×",
        )


def comparison_lines(bench, durability_modes):
    """Below the table: how many times more latency LiteLLM adds than pelletd at p50, per mode."""
    lines = []
    for durability in durability_modes:
        ratio = bench.results.get(f"table.litellm.vs_{durability}.p50")
        if ratio:
            lines.append(f"LiteLLM's added latency at p50 ÷ pelletd --durability {durability}'s: "
                         f"{ratio['value']:,.1f}× (issue 17's target: ≥ 200×)")
    return lines


def expected_figures(peers, durability_modes):
    names = []
    if "litellm" in peers:
        names += ["table.litellm.p50", "table.litellm.p99", "table.litellm.overhead.p50",
                  "table.litellm.overhead.p99", "table.litellm.rate_8_in_flight"]
        names += [f"table.litellm.vs_{mode}.p50" for mode in durability_modes]
    return names
