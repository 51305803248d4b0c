"""tools/bench's cluster-mode groups (imported by tools/bench; not run on its own).

  cluster   metering shipping throughput: one pelletd in cluster mode fills its outbox while
            its PostgreSQL is stopped (closed-loop Complete against the nginx mock), then the
            database starts again and the outbox is timed until empty: events/s into
            pellet_requests, and how long the shipper took to notice the database was back
  outage    PostgreSQL killed (SIGKILL to every PostgreSQL process) for 60 s under a steady
            open-loop Complete load on one pelletd: calls OK/failed and latency p50/p99 before,
            during and after the outage, the outbox's peak depth, and the time from the
            database's restart until the outbox is back to its depth before the outage; then
            every call answered OK must be in pellet_requests (about 2 minutes; only with
            --only outage)

The PostgreSQL is a throwaway server (initdb in a temp directory, a free loopback port, run as
`postgres` when the bench runs as root, as PelletTesting's PostgresTestServer does) with its
default durability (fsync on), so the shipping figures include real commits.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ADMIN_TOKEN = "bench-admin-token-0123456789abcdef"
PROVIDERS = ["together", "fireworks", "groq"]


def log(message):
    print(f"bench: {message}", file=sys.stderr, flush=True)


class BenchError(Exception):
    pass


def free_loopback_port():
    import socket
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class ThrowawayPostgres:
    """A fresh PostgreSQL cluster in a temp directory of its own (the postgres user, when the
    bench runs as root, must enter it: the bench's own 0700 directory would not do)."""

    def __init__(self):
        root = "/usr/lib/postgresql"
        versions = sorted(
            (int(name) for name in (os.listdir(root) if os.path.isdir(root) else []) if name.isdigit()
             and os.access(f"{root}/{name}/bin/initdb", os.X_OK)),
        )
        if not versions:
            raise BenchError(f"PostgreSQL is not installed (no {root}/N/bin/initdb): run tools/install-deps")
        self.binaries = f"{root}/{versions[-1]}/bin"
        self.directory = tempfile.mkdtemp(prefix="pellet-bench-pg.")
        self.data = os.path.join(self.directory, "data")
        self.port = free_loopback_port()
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres")
        self.tool("initdb", "-D", self.data, "-U", "pellet", "--auth=trust", "-E", "UTF8", "--no-sync")
        self.start()

    @property
    def url(self):
        return f"postgres://pellet@127.0.0.1:{self.port}/postgres"

    def tool(self, name, *arguments):
        command = [os.path.join(self.binaries, name), *arguments]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        # Output to a file, not a pipe: the server `pg_ctl start` leaves running would hold it.
        with tempfile.TemporaryFile() as output:
            result = subprocess.run(command, cwd=self.directory, stdin=subprocess.DEVNULL, stdout=output,
                                    stderr=subprocess.STDOUT, timeout=60)
            output.seek(0)
            text = output.read().decode(errors="replace")
        if result.returncode != 0:
            raise BenchError(f"{name} failed ({result.returncode}): {text}")
        return text

    def start(self):
        self.tool("pg_ctl", "-D", self.data, "-l", os.path.join(self.directory, "server.log"), "-w", "-t", "60",
                  "-o", f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.directory} -c max_connections=200",
                  "start")

    def stop(self):
        self.tool("pg_ctl", "-D", self.data, "-w", "-m", "fast", "stop")

    def kill(self):
        """kill -9 of the postmaster and every process it started; returns once all are gone."""
        with open(os.path.join(self.data, "postmaster.pid")) as lock:
            postmaster = int(lock.readline())
        processes = [postmaster] + [pid for pid in all_pids() if parent_of(pid) == postmaster]
        for pid in processes:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 10
        while any(is_alive(pid) for pid in processes):
            if time.monotonic() > deadline:
                raise BenchError(f"PostgreSQL's processes {processes} outlived SIGKILL")
            time.sleep(0.01)

    def psql(self, sql):
        return self.tool("psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "pellet", "-d", "postgres",
                         "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql).strip()

    def close(self):
        try:
            self.tool("pg_ctl", "-D", self.data, "-w", "-m", "immediate", "stop")
        except (BenchError, subprocess.TimeoutExpired):
            pass
        shutil.rmtree(self.directory, ignore_errors=True)


def all_pids():
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def proc_stat_fields(pid):
    try:
        with open(f"/proc/{pid}/stat") as handle:
            stat = handle.read()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2:].split()


def parent_of(pid):
    fields = proc_stat_fields(pid)
    return int(fields[1]) if fields else None


def is_alive(pid):
    fields = proc_stat_fields(pid)
    return fields is not None and fields[0] != "Z"


class ClusterNode:
    """One pelletd in cluster mode on its own data directory, with a metrics listener (the
    outbox gauge) on a free loopback port."""

    def __init__(self, bench, database, mock_url, name):
        self.bench = bench
        self.data_dir = os.path.join(bench.work, name)
        log_path = self.data_dir + ".log"
        urls = [argument for provider in PROVIDERS for argument in ("--provider-url", f"{provider}={mock_url}")]
        environment = {f"{provider.upper()}_API_KEY": "bench" for provider in PROVIDERS}
        environment["PELLET_ADMIN_TOKEN"] = ADMIN_TOKEN
        self.process = bench.processes.start(
            [os.path.join(bench.bin, "pelletd"), "--data-dir", self.data_dir, "--tcp", "off",
             "--metrics-listen", "127.0.0.1:0", "--discovery-interval", "off",
             "--database-url", database.url, *urls],
            log_path, environment,
        )
        self.log_path = log_path
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            text = open(log_path, errors="replace").read()
            ready = next((line for line in text.splitlines() if line.endswith(" ready")), None)
            match = re.search(r"metrics=(http://\S+)", ready or "")
            if match:
                self.metrics_url = match.group(1)
                break
            if self.process.poll() is not None:
                raise BenchError(f"pelletd (cluster) exited:\n{text}")
            time.sleep(0.05)
        else:
            raise BenchError(f"pelletd (cluster) was not ready in 60 s:\n{open(log_path, errors='replace').read()}")
        self.unix = f"unix:{self.data_dir}/pellet.sock"

    def outbox_depth(self):
        import urllib.request
        with urllib.request.urlopen(self.metrics_url + "/metrics", timeout=5) as response:
            body = response.read().decode()
        match = re.search(r"^pellet_cluster_outbox_events (\d+)", body, re.MULTILINE)
        if not match:
            raise BenchError("no pellet_cluster_outbox_events in /metrics")
        return int(match.group(1))

    def make_key(self):
        def ctl(*arguments):
            output = subprocess.run(
                [os.path.join(self.bench.bin, "pelletctl"), *arguments, "--server", self.unix, "--json"],
                capture_output=True, text=True, timeout=30, env={**os.environ, "PELLET_ADMIN_TOKEN": ADMIN_TOKEN},
            )
            if output.returncode != 0:
                raise BenchError(f"pelletctl {arguments[0]} failed: {output.stderr.strip()}")
            return json.loads(output.stdout)

        account = ctl("account", "create", "--name", "Cluster bench", "--email", "cluster-bench@example.com")
        return ctl("key", "create", account["id"])["api_key"]

    def wait_for_depth(self, limit, timeout, interval=0.02):
        """Samples the outbox until its depth is at most `limit`: [(seconds, depth), ...] from now."""
        started = time.monotonic()
        samples = []
        while True:
            depth = self.outbox_depth()
            samples.append((time.monotonic() - started, depth))
            if depth <= limit:
                return samples
            if time.monotonic() - started > timeout:
                raise BenchError(f"the outbox still held {depth} events after {timeout} s")
            time.sleep(interval)


def load_arguments(bench, target, api_key, *, duration, rate=None, connections=2, in_flight=32):
    arguments = [
        os.path.join(bench.bin, "pellet-load"), "rpc", "--target", target, "--method", "complete",
        "--connections", str(connections), "--in-flight", str(in_flight), "--duration", str(duration),
        "--warmup", "0", "--drain", "10", "--json", "--quiet",
    ]
    if rate is not None:
        arguments += ["--rate", str(rate)]
    return arguments, {**os.environ, "PELLET_API_KEY": api_key}


def run_load(bench, target, api_key, **options):
    arguments, environment = load_arguments(bench, target, api_key, **options)
    result = subprocess.run(arguments, capture_output=True, text=True, env=environment,
                            timeout=options["duration"] + 90)
    if result.returncode != 0:
        raise BenchError(f"pellet-load failed ({result.returncode}): {result.stderr.strip()}")
    return json.loads(result.stdout)


class BackgroundLoad:
    """pellet-load running while the caller does something else."""

    def __init__(self, bench, target, api_key, **options):
        arguments, environment = load_arguments(bench, target, api_key, **options)
        self.output = tempfile.TemporaryFile()
        self.process = subprocess.Popen(arguments, stdout=self.output, stderr=subprocess.DEVNULL, env=environment)
        self.duration = options["duration"]

    def running(self):
        return self.process.poll() is None

    def report(self):
        self.process.wait(timeout=self.duration + 90)
        self.output.seek(0)
        text = self.output.read().decode()
        if self.process.returncode != 0:
            raise BenchError(f"pellet-load failed ({self.process.returncode})")
        return json.loads(text)


def ok_calls(report):
    return report["statuses"].get("OK", 0)


def measure_shipping(bench, mock_url):
    """Events/s from one node's outbox into pellet_requests, with no load while it drains."""
    quick = bench.settings.quick
    database = ThrowawayPostgres()
    try:
        node = ClusterNode(bench, database, mock_url, "cluster-shipping")
        api_key = node.make_key()
        log("cluster: a warm-up load, shipped as it goes")
        warmup = run_load(bench, node.unix, api_key, duration=0.5)
        node.wait_for_depth(0, timeout=30)
        database.stop()
        duration = 1.0 if quick else 8.0
        log(f"cluster: {duration} s of Complete with the database stopped: the outbox fills")
        filling = run_load(bench, node.unix, api_key, duration=duration, connections=2, in_flight=32)
        events = node.outbox_depth()
        if events < ok_calls(filling):
            raise BenchError(f"the outbox holds {events} events after {ok_calls(filling)} calls answered OK")
        database.start()
        samples = node.wait_for_depth(0, timeout=300)
        # Shipping began after the last sample that still showed every event (or before the
        # first sample: the shipper may retry the moment the database is back).
        began = max((seconds for seconds, depth in samples if depth == events), default=0.0)
        drained = samples[-1][0]
        rate = round(events / (drained - began)) if drained > began else 0
        rows = int(database.psql("SELECT count(*) FROM pellet_requests"))
        expected = ok_calls(warmup) + events
        if rows < expected:
            raise BenchError(f"pellet_requests has {rows} rows after {expected} calls answered OK")
        bench.record(
            "cluster.shipping.events_per_s", rate, "events/s", note=
            f"{events:,} events from one node's outbox into PostgreSQL (fsync on) in {drained - began:.2f} s, "
            f"batches of up to 500, no load meanwhile; {rows:,} rows, one per call answered OK",
        )
        bench.record(
            "cluster.shipping.reconnect_wait", round(began, 2), "s",
            note="from the database accepting connections again to the first batch shipped "
                 "(the shipper's retry pause grows to 1 s while the database is away)",
        )
        bench.processes.stop(node.process)
    finally:
        database.close()


def measure_outage(bench, mock_url):
    """PostgreSQL killed for 60 s under a steady load on one node."""
    quick = bench.settings.quick
    rate = 1_000
    before_s, outage_s, after_s = (2, 5, 5) if quick else (15, 60, 30)
    database = ThrowawayPostgres()
    try:
        node = ClusterNode(bench, database, mock_url, "cluster-outage")
        api_key = node.make_key()
        load_options = dict(duration=None, rate=rate, connections=2, in_flight=64)
        reports = {}
        depths = {}

        def phase(name, seconds, action=None):
            log(f"outage: {name}, {seconds} s at {rate}/s")
            load = BackgroundLoad(bench, node.unix, api_key, **{**load_options, "duration": seconds})
            started = time.monotonic()
            if action:
                action()
            samples = []
            while load.running():
                samples.append((time.monotonic(), node.outbox_depth()))
                time.sleep(0.1)
            reports[name] = load.report()
            depths[name] = samples
            return started

        phase("before", before_s)
        phase("during", outage_s, database.kill)
        restarted = {}

        def restart():
            database.start()
            restarted["at"] = time.monotonic()

        phase("after", after_s, restart)
        steady = max([depth for _, depth in depths["before"]] + [1])
        peak = max(depth for name in ("during", "after") for _, depth in depths[name])
        back = next((at for at, depth in depths["after"] if at >= restarted["at"] and depth <= steady), None)
        # Shipping resumed after the last sample before the depth first fell.
        since_restart = [(at, depth) for at, depth in depths["after"] if at >= restarted["at"]]
        resumed = next((earlier[0] for earlier, later in zip(since_restart, since_restart[1:])
                        if later[1] < earlier[1]), None)
        if back is None:
            node.wait_for_depth(steady, timeout=300, interval=0.1)
            back = time.monotonic()
        node.wait_for_depth(0, timeout=120)
        answered = sum(ok_calls(report) for report in reports.values())
        rows = int(database.psql("SELECT count(*) FROM pellet_requests"))
        if rows < answered:
            raise BenchError(f"only {rows} rows in pellet_requests after {answered} calls answered OK")

        for name in ("before", "during", "after"):
            report = reports[name]
            failed = report["completed"] - ok_calls(report)
            for percentile in ("p50", "p99"):
                bench.record(
                    f"cluster.outage.{name}.{percentile}", report["latency_us"][percentile], "µs",
                    reports["before"]["latency_us"][percentile] if name != "before" else None,
                    f"before the outage {percentile}" if name != "before" else None,
                    f"open loop {rate}/s, one node, nginx mock",
                )
            bench.record(
                f"cluster.outage.{name}.calls_ok", ok_calls(report), "calls",
                note=f"{failed} failed ({json.dumps(report['statuses'])}) in {report['duration_s']} s",
            )
        bench.record("cluster.outage.outbox_peak", peak, "events",
                     note=f"PostgreSQL killed (SIGKILL) for {outage_s} s + its restart")
        bench.record(
            "cluster.outage.drain", round(back - restarted["at"], 2), "s",
            note=f"from the database accepting connections until the outbox held at most {steady} events "
                 f"(its peak before the outage), load still on; the first batch went "
                 + (f"{resumed - restarted['at']:.1f} s" if resumed is not None else "?")
                 + f" after the restart; {rows:,} rows for {answered:,} calls answered OK",
        )
        bench.processes.stop(node.process)
    finally:
        database.close()


def expected_figures(groups):
    names = []
    if "cluster" in groups:
        names += ["cluster.shipping.events_per_s", "cluster.shipping.reconnect_wait"]
    if "outage" in groups:
        for name in ("before", "during", "after"):
            names += [f"cluster.outage.{name}.p50", f"cluster.outage.{name}.p99", f"cluster.outage.{name}.calls_ok"]
        names += ["cluster.outage.outbox_peak", "cluster.outage.drain"]
    return names
