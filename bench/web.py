"""`python -m bench.web`: storefront throughput and latency under 16 concurrent clients.

Serves the demo store with gunicorn on PostgreSQL (loopback only), then loads home, category, product, search
and add-to-cart (the API's POST /api/cart/items/), each against the floor of a trivial Django view on the same
server (/healthz: routing, middleware and a JSON response, no template, no query). An unrecorded round of
every case warms the server first; cases then run in interleaved repetitions so drift (other load) hits every
case alike; requests/s is the median over repetitions, p50/p95 come from every recorded request. Each case
also reports the gunicorn workers' CPU time per request (from /proc, Linux only): on a machine shared with
other load, requests/s swings with whatever else runs, while the CPU a request costs the server does not.
Prints JSON lines; the last is the summary.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/aisle_bench"
TRIVIAL_CASE = "trivial"
PAGE_CASES = ("home", "category", "product", "search", "add_to_cart")
SEARCH_TERMS = ("shirt", "red dress", "cotton kurta", "running shoes", "jeans", "watch", "black", "sneakers")


def emit(record: dict) -> None:
    print(json.dumps(record), flush=True)


# ------------------------------------------------------------------------------------------- the server


def server_env(database_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url,
        DEBUG="0",
        PRODUCTION="0",  # no HTTPS redirect on loopback; the settings otherwise match production's
        ALLOWED_HOSTS="127.0.0.1,localhost",
        # Throttling would turn a load test into a 429 test.
        THROTTLE_ANON="100000000/min",
        THROTTLE_USER="100000000/min",
        LOG_LEVEL="ERROR",
        DJANGO_SETTINGS_MODULE="shop.settings",
    )
    env.pop("REDIS_URL", None)  # in-process tasks, as the embedded default: nothing here needs a broker
    return env


def manage(env: dict[str, str], *args: str, timeout: float = 1800) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
    if result.returncode != 0:
        raise SystemExit(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def ensure_database(database_url: str, *, fresh: bool) -> None:
    """Create the benchmark database on first use (connecting to the server's maintenance database);
    `fresh` drops it first, for when the migrations were rewritten under an old benchmark database."""
    import psycopg2
    from psycopg2 import sql

    parts = urlsplit(database_url)
    name = parts.path.lstrip("/")
    connection = psycopg2.connect(
        host=parts.hostname, port=parts.port or 5432, user=parts.username, password=parts.password, dbname="postgres"
    )
    connection.autocommit = True  # CREATE DATABASE cannot run inside a transaction
    with connection.cursor() as cursor:
        if fresh:
            cursor.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if cursor.fetchone() is None:
            cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    connection.close()


# Run inside `manage.py shell`: picks the URLs the clients will load, from what the seeded store holds.
TARGETS_SCRIPT = """
import json
from django.db.models import Count, Q
from catalog.models import Category, Product, Variant
categories = list(
    Category.objects.annotate(n=Count("products", filter=Q(products__is_active=True)))
    .filter(n__gte=24).order_by("-n").values_list("slug", flat=True)[:10]
)
products = list(Product.objects.filter(is_active=True).order_by("id").values_list("slug", flat=True)[:400:8])
skus = list(
    Variant.objects.filter(is_active=True, product__is_active=True, stock__gte=1000)
    .order_by("id").values_list("sku", flat=True)[:200]
)
if len(skus) < 50:  # the demo's stock is smaller than that: take any in-stock variants
    skus = list(Variant.objects.filter(is_active=True, product__is_active=True, stock__gte=50)
                .order_by("id").values_list("sku", flat=True)[:200])
print(json.dumps({"products": Product.objects.count(), "categories": categories, "product_slugs": products, "skus": skus}))
"""


def seed_and_pick_targets(env: dict[str, str], *, force_seed: bool) -> dict:
    manage(env, "migrate", "--noinput")
    targets = json.loads(manage(env, "shell", "-c", TARGETS_SCRIPT).strip().splitlines()[-1])
    if targets["products"] == 0 or force_seed:
        emit({"bench": "web", "event": "seeding", "note": "manage.py seed_demo (first run only)"})
        manage(env, "seed_demo")
        targets = json.loads(manage(env, "shell", "-c", TARGETS_SCRIPT).strip().splitlines()[-1])
    if not (targets["categories"] and targets["product_slugs"] and targets["skus"]):
        raise SystemExit(f"the seeded store lacks categories, products or in-stock variants: {targets}")
    return targets


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_gunicorn(env: dict[str, str], *, port: int, workers: int) -> subprocess.Popen:
    command = [
        sys.executable, "-m", "gunicorn", "shop.wsgi:application",
        "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
        "--backlog", "512",  # 16 clients on short-lived connections: keep the accept queue from overflowing
        "--log-level", "warning",
    ]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def workers_cpu_seconds(master_pid: int) -> float:
    """User + system CPU time the gunicorn workers (the master's children) have used so far; 0.0 where
    there is no /proc."""
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # After "pid (command)": state ppid ... with utime and stime at 11 and 12.
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # a process that ended meanwhile
        if int(fields[1]) == master_pid:
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def wait_until_up(port: int, server: subprocess.Popen, *, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"gunicorn exited early:\n{server.stderr.read()}")
        try:
            status, _, _ = request("127.0.0.1", port, "GET", "/healthz")
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise SystemExit("gunicorn did not answer /healthz in time")


# ------------------------------------------------------------------------------------------- the clients


def request(host: str, port: int, method: str, path: str, *, body: bytes | None = None,
            headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    # One connection per request: gunicorn's sync workers close the connection after each response anyway.
    connection = http.client.HTTPConnection(host, port, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        payload = response.read()  # read the whole page: the client pays for the transfer, as a browser does
        return response.status, {k.lower(): v for k, v in response.getheaders()}, payload
    finally:
        connection.close()


@dataclass
class Client:
    """One shopper: its own session cookie (the add-to-cart case builds a cart per client)."""

    port: int
    rng: random.Random
    cookies: dict[str, str] = field(default_factory=dict)

    def call(self, method: str, path: str, body: dict | None = None) -> int:
        headers = {"Host": "127.0.0.1", "Accept": "text/html,application/json"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        status, response_headers, _ = request("127.0.0.1", self.port, method, path, body=data, headers=headers)
        # http.client folds repeated Set-Cookie headers into one comma-joined value; only the name=value matters.
        for chunk in response_headers.get("set-cookie", "").split(","):
            name, sep, rest = chunk.strip().partition("=")
            if sep and name in {"sessionid", "csrftoken"}:
                self.cookies[name] = rest.split(";", 1)[0]
        return status


def case_request(case: str, client: Client, targets: dict) -> tuple[str, str, dict | None]:
    rng = client.rng
    if case == TRIVIAL_CASE:
        return "GET", "/healthz", None
    if case == "home":
        return "GET", "/", None
    if case == "category":
        return "GET", f"/c/{rng.choice(targets['categories'])}/", None
    if case == "product":
        return "GET", f"/p/{rng.choice(targets['product_slugs'])}/", None
    if case == "search":
        return "GET", f"/search/?q={quote(rng.choice(SEARCH_TERMS))}", None
    if case == "add_to_cart":
        return "POST", "/api/cart/items/", {"sku": rng.choice(targets["skus"]), "quantity": 1}
    raise ValueError(case)


def run_case(case: str, *, port: int, targets: dict, clients: int, requests_per_client: int, seed: int) -> dict:
    """`clients` threads each send `requests_per_client` requests back to back; returns rps and latencies."""
    latencies: list[float] = []
    errors: list[int] = []
    lock = threading.Lock()
    start_gate = threading.Barrier(clients + 1)

    def worker(index: int) -> None:
        client = Client(port=port, rng=random.Random(seed * 1000 + index))
        local_latencies, local_errors = [], []
        start_gate.wait()
        for _ in range(requests_per_client):
            method, path, body = case_request(case, client, targets)
            began = time.perf_counter()
            try:
                status = client.call(method, path, body)
            except OSError:
                status = 0
            local_latencies.append(time.perf_counter() - began)
            if not 200 <= status < 300:
                local_errors.append(status)
        with lock:
            latencies.extend(local_latencies)
            errors.extend(local_errors)

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    start_gate.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    return {"rps": len(latencies) / elapsed, "latencies": latencies, "errors": errors}


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


# ------------------------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL))
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=25, help="requests per client per repetition")
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument("--max-seconds", type=float, default=600, help="stop starting repetitions after this")
    parser.add_argument("--reseed", action="store_true", help="run seed_demo even if the store has products")
    parser.add_argument("--fresh", action="store_true", help="drop and recreate the benchmark database first")
    args = parser.parse_args(argv)

    if not args.database_url.startswith(("postgres://", "postgresql://")):
        raise SystemExit("bench.web measures the production shape: give it a PostgreSQL DATABASE_URL")
    env = server_env(args.database_url)
    ensure_database(args.database_url, fresh=args.fresh)
    targets = seed_and_pick_targets(env, force_seed=args.reseed)
    port = free_port()
    server = start_gunicorn(env, port=port, workers=args.workers)
    cases = (TRIVIAL_CASE, *PAGE_CASES)
    results: dict[str, list[dict]] = {case: [] for case in cases}
    began = time.monotonic()
    try:
        wait_until_up(port, server)
        emit({"bench": "web", "event": "start", "port": port, "workers": args.workers, "clients": args.clients,
              "requests_per_client": args.requests, "products": targets["products"]})
        # Warm-up, not recorded: imports, template compilation, connection set-up and the caches (each worker
        # has its own) for every target URL. A full-size round, because a few requests per case leave most
        # (worker, URL) pairs cold, and the first repetition would then measure cache filling, not serving.
        for case in cases:
            run_case(case, port=port, targets=targets, clients=args.clients, requests_per_client=args.requests, seed=0)
        for repetition in range(args.repetitions):
            if repetition and time.monotonic() - began > args.max_seconds:
                emit({"bench": "web", "event": "time_limit", "repetitions_done": repetition})
                break
            # Rotate the order each repetition so no case always runs first (or right after a heavy one).
            order = cases[repetition % len(cases):] + cases[:repetition % len(cases)]
            for case in order:
                cpu_before = workers_cpu_seconds(server.pid)
                result = run_case(case, port=port, targets=targets, clients=args.clients,
                                  requests_per_client=args.requests, seed=repetition + 1)
                cpu_seconds = workers_cpu_seconds(server.pid) - cpu_before
                result["server_cpu_ms"] = cpu_seconds / len(result["latencies"]) * 1000
                results[case].append(result)
                emit({"bench": "web", "case": case, "repetition": repetition, "rps": round(result["rps"], 1),
                      "p50_ms": round(percentile(result["latencies"], 0.5) * 1000, 2),
                      "p95_ms": round(percentile(result["latencies"], 0.95) * 1000, 2),
                      "server_cpu_ms": round(result["server_cpu_ms"], 2),
                      "errors": len(result["errors"]), "error_statuses": sorted(set(result["errors"]))})
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()

    trivial_rps = statistics.median(r["rps"] for r in results[TRIVIAL_CASE])
    trivial_cpu_ms = statistics.median(r["server_cpu_ms"] for r in results[TRIVIAL_CASE])
    summary = []
    for case in PAGE_CASES:
        runs = results[case]
        latencies = [value for run in runs for value in run["latencies"]]
        rps = statistics.median(run["rps"] for run in runs)
        cpu_ms = statistics.median(run["server_cpu_ms"] for run in runs)
        summary.append({
            "case": case, "unit": "req/s", "ours": round(rps, 1), "peer": round(trivial_rps, 1),
            "ratio": round(rps / trivial_rps, 3),
            "p50_ms": round(percentile(latencies, 0.5) * 1000, 2),
            "p95_ms": round(percentile(latencies, 0.95) * 1000, 2),
            "server_cpu_ms": round(cpu_ms, 2),
            # The trivial view's server CPU per request over this page's: what `ratio` would be if the
            # server's CPU were the only limit, whatever else the machine is running.
            "cpu_ratio": round(trivial_cpu_ms / cpu_ms, 3) if cpu_ms else None,
            "errors": sum(len(run["errors"]) for run in runs),
            "peer_name": "trivial view (floor)",
        })
    trivial_latencies = [value for run in results[TRIVIAL_CASE] for value in run["latencies"]]
    emit({"bench": "web", "clients": args.clients, "workers": args.workers,
          "trivial_p50_ms": round(percentile(trivial_latencies, 0.5) * 1000, 2),
          "trivial_p95_ms": round(percentile(trivial_latencies, 0.95) * 1000, 2),
          "trivial_server_cpu_ms": round(trivial_cpu_ms, 2),
          "cases": summary})


if __name__ == "__main__":
    main()
