"""Scheduler benchmark: fire-to-accepted latency with 1,000 schedules, and the daemon at rest.

Run from the project folder (PostgreSQL on loopback, as for the tests)::

    .venv/bin/python bench/scheduler_latency.py [--schedules 1000] [--firing 200] [--nodes 2]
    .venv/bin/python bench/scheduler_latency.py --burst 1000

``--burst N``: N schedules due in the same second on two Scrapyd nodes, dispatched
once one call per node at a time (``SCRAPERQ_DISPATCH_CONCURRENCY=1``) and once
with the default parallel dispatch; prints p50 and max fire-to-accepted latency of
each, side by side (the target: every fire time accepted within 2 s).

It creates a throwaway PostgreSQL database, starts real Scrapyd nodes (the
project egg deployed with scrapyd-deploy, ``max_proc = 1`` so queued jobs wait
rather than swamp the machine) and one ``scraperq scheduler`` process with the
default settings. It loads ``--schedules`` schedules, of which ``--firing`` fall
due over a 20-second window (several in the same second, as at the top of an
hour) and the rest are far off. It measures:

* the daemon's CPU and resident memory at rest (schedules loaded, nothing due),
  from /proc over ``--rest-seconds``;
* for each fire time, the latency from the moment it fell due to the moment a
  Scrapyd node accepted the job (``job_runs.dispatched_at - fire_time``, both
  taken by the daemon), reported as median, p99 and max.

Settings: ``SCRAPERQ_BENCH_PG_ADMIN`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scraperq.storage import jobs, open_database  # noqa: E402
from scraperq.storage.connection import utcnow  # noqa: E402
from scraperq.storage.schedules import add_schedule  # noqa: E402
from tests.helpers import BIN, MockServer, ScrapydNode, build_egg, crawl_env, wait_for  # noqa: E402

PG_ADMIN = os.environ.get("SCRAPERQ_BENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
FIRE_WINDOW = 20  # seconds over which the firing schedules fall due
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def pg_admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(sql)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def load_schedules(database_url: str, total: int, firing: int, url: str, first_fire: float) -> list[int]:
    """``total`` schedules; ``firing`` of them due once between first_fire and first_fire + FIRE_WINDOW."""
    now = utcnow()
    start = now.replace(microsecond=0) + timedelta(seconds=first_fire)
    firing_ids = []
    with open_database(database_url) as db:
        for i in range(total):
            name = f"bench-{i:04d}"
            if i < firing:
                due = start + timedelta(seconds=(i * FIRE_WINDOW) // firing)
                schedule = add_schedule(
                    db,
                    name=name,
                    spider="generic",
                    interval_seconds=3600,
                    args={"url": url},
                    next_fire_time=due,
                    now=due - timedelta(hours=1),  # phase the interval on the due time
                )
                firing_ids.append(schedule.id)
            elif i % 2:
                add_schedule(
                    db,
                    name=name,
                    spider="generic",
                    cron=f"{i % 60} {i % 24} * * *",
                    timezone="Asia/Seoul",
                    args={"url": url},
                    next_fire_time=now + timedelta(days=1),
                    now=now,
                )
            else:
                add_schedule(
                    db,
                    name=name,
                    spider="generic",
                    interval_seconds=86400,
                    args={"url": url},
                    next_fire_time=now + timedelta(days=1),
                    now=now,
                )
    return firing_ids


def start_nodes(folder: Path, count: int, env: dict[str, str], egg: Path) -> list[ScrapydNode]:
    # Queued jobs wait for one slot instead of running a hundred crawls at once.
    config = (ROOT / "deploy" / "scrapyd.conf").read_text().replace("max_proc = 4", "max_proc = 1")
    nodes: list[ScrapydNode] = []
    for n in range(count):
        nodes.append(ScrapydNode(folder / f"node{n + 1}", env, config=config))
        nodes[-1].deploy(egg)
        nodes[-1].call("listspiders.json?project=scraperq")  # Scrapyd builds its spider list once, blocking
    return nodes


def burst_round(folder: Path, egg: Path, count: int, concurrency: int, url: str) -> tuple[list[float], int]:
    """``count`` schedules due in the same second; (latencies of the accepted ones, how many were accepted)."""
    name = f"scraperq_bench_{uuid.uuid4().hex[:8]}"
    pg_admin(f'CREATE DATABASE "{name}"')
    database_url = PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    nodes: list[ScrapydNode] = []
    daemon = None
    try:
        nodes = start_nodes(folder, 2, crawl_env(database_url), egg)
        open_database(database_url).close()
        fire = utcnow().replace(microsecond=0) + timedelta(seconds=25)
        ids = set()
        with open_database(database_url) as db:
            for i in range(count):
                schedule = add_schedule(
                    db,
                    name=f"burst-{i:04d}",
                    spider="generic",
                    interval_seconds=3600,
                    args={"url": url},
                    next_fire_time=fire,
                    now=fire - timedelta(hours=1),
                )
                ids.add(schedule.id)
        env = crawl_env(
            database_url,
            SCRAPYD_NODES=",".join(node.url for node in nodes),
            SCRAPERQ_API_BIND="127.0.0.1:0",
            SCRAPERQ_DISPATCH_CONCURRENCY=str(concurrency),
        )
        log = open(folder / f"scheduler-{concurrency}.log", "wb")  # noqa: SIM115 - closed with the process
        daemon = subprocess.Popen(
            [str(BIN / "scraperq"), "scheduler"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )

        def settled() -> list[jobs.JobRun] | None:
            with open_database(database_url, migrate_schema=False, pool_size=1) as db:
                runs = [r for r in jobs.recent_runs(db, limit=2 * count) if r.schedule_id in ids]
            return runs if len(runs) >= count and all(r.status != "dispatching" for r in runs) else None

        runs = wait_for(settled, timeout=240, interval=1.0, message="every fire time dispatched")
    finally:
        if daemon is not None:
            daemon.terminate()
            daemon.wait(timeout=60)
        for node in nodes:
            node.stop()
        pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    accepted = [r for r in runs if r.dispatched_at is not None]
    return [(r.dispatched_at - r.fire_time).total_seconds() for r in accepted], len(accepted)


def scrapyd_ceiling(folder: Path, egg: Path, calls: int = 300) -> float:
    """schedule.json calls per second one Scrapyd node takes, 8 at a time: the bound on any dispatcher."""
    from concurrent.futures import ThreadPoolExecutor

    from scheduler.scrapyd import ScrapydClient, parse_nodes

    [node] = start_nodes(folder, 1, crawl_env("sqlite:///" + str(folder / "unused.sqlite3")), egg)
    try:
        client = ScrapydClient(project="scraperq", timeout=30)
        [target] = parse_nodes(node.url, default_capacity=1)

        def one(_: int) -> None:
            client.schedule(
                target, spider="generic", job_id=uuid.uuid4().hex, args={"url": "http://127.0.0.1:9/"}, settings={}
            )

        started = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(one, range(calls)))
        return calls / (time.monotonic() - started)
    finally:
        node.stop()


def burst(count: int) -> int:
    mock = MockServer()
    results = {}
    try:
        with tempfile.TemporaryDirectory(prefix="scraperq-bench-") as tmp:
            folder = Path(tmp)
            (folder / "egg").mkdir()
            egg = build_egg(folder / "egg")
            (folder / "ceiling").mkdir()
            ceiling = scrapyd_ceiling(folder / "ceiling", egg)
            for label, concurrency in (("one call per node at a time", 1), ("parallel, the default (8 per node)", 8)):
                (folder / str(concurrency)).mkdir()
                results[label] = burst_round(folder / str(concurrency), egg, count, concurrency, mock("/article"))
    finally:
        mock.stop()
    print(f"{count} schedules due in the same second, 2 Scrapyd nodes: fire time -> accepted by a node")
    print(
        f"  Scrapyd itself takes {ceiling:.0f} schedule.json calls/s per node (8 at a time): {count} jobs need"
        f" at least {count / (2 * ceiling):.1f} s on two nodes, whatever sends them"
    )
    for label, (latencies, accepted) in results.items():
        if not latencies:
            print(f"  {label:36} none accepted")
            continue
        print(
            f"  {label:36} p50 {statistics.median(latencies):6.2f} s   max {max(latencies):6.2f} s"
            f"   accepted {accepted}/{count}, within 2 s: {sum(1 for x in latencies if x <= 2.0)}"
        )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--schedules", type=int, default=1000)
    parser.add_argument("--firing", type=int, default=200)
    parser.add_argument("--nodes", type=int, default=2)
    parser.add_argument("--rest-seconds", type=float, default=20.0)
    parser.add_argument("--burst", type=int, default=0, metavar="N", help="N schedules due in the same second")
    args = parser.parse_args()
    if args.burst:
        return burst(args.burst)

    name = f"scraperq_bench_{uuid.uuid4().hex[:8]}"
    pg_admin(f'CREATE DATABASE "{name}"')
    database_url = PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    mock = MockServer()
    nodes: list[ScrapydNode] = []
    daemon = None
    with tempfile.TemporaryDirectory(prefix="scraperq-bench-") as tmp:
        try:
            folder = Path(tmp)
            (folder / "egg").mkdir()
            egg = build_egg(folder / "egg")
            env = crawl_env(database_url)
            # Queued jobs wait for one slot instead of running a hundred crawls at once.
            config = (ROOT / "deploy" / "scrapyd.conf").read_text().replace("max_proc = 4", "max_proc = 1")
            for n in range(args.nodes):
                nodes.append(ScrapydNode(folder / f"node{n + 1}", env, config=config))
                nodes[-1].deploy(egg)
            open_database(database_url).close()  # schema first, so the daemon starts straight away

            rest_start = 8.0
            lead = rest_start + args.rest_seconds + 5
            firing_ids = load_schedules(database_url, args.schedules, args.firing, mock("/article"), lead)
            daemon_env = crawl_env(
                database_url, SCRAPYD_NODES=",".join(node.url for node in nodes), SCRAPERQ_API_BIND="127.0.0.1:0"
            )
            log = open(folder / "scheduler.log", "wb")  # noqa: SIM115 - closed with the process
            daemon = subprocess.Popen(
                [str(BIN / "scraperq"), "scheduler"], cwd=ROOT, env=daemon_env, stdout=log, stderr=subprocess.STDOUT
            )
            time.sleep(rest_start)  # start-up: imports, connections, first passes

            cpu_before, wall_before = cpu_seconds(daemon.pid), time.monotonic()
            time.sleep(args.rest_seconds)
            cpu_at_rest = (cpu_seconds(daemon.pid) - cpu_before) / (time.monotonic() - wall_before)
            memory = rss_mib(daemon.pid)

            def all_dispatched() -> list[jobs.JobRun] | None:
                with open_database(database_url, migrate_schema=False, pool_size=1) as db:
                    runs = [r for r in jobs.recent_runs(db, limit=10 * args.firing) if r.schedule_id in firing_ids]
                done = [r for r in runs if r.status not in ("dispatching",)]
                return runs if len(done) >= len(firing_ids) else None

            runs = wait_for(all_dispatched, timeout=lead + FIRE_WINDOW + 120, interval=1.0, message="every fire time")
        finally:
            if daemon is not None:
                daemon.terminate()
                daemon.wait(timeout=30)
            for node in nodes:
                node.stop()
            mock.stop()
            pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    accepted = [r for r in runs if r.dispatched_at is not None]
    latencies = [(r.dispatched_at - r.fire_time).total_seconds() for r in accepted]
    others = {status: sum(1 for r in runs if r.status == status) for status in ("skipped", "missed", "failed")}
    print(
        f"schedules loaded: {args.schedules} ({args.firing} falling due over {FIRE_WINDOW} s), "
        f"Scrapyd nodes: {args.nodes}"
    )
    print(
        f"daemon at rest: CPU {cpu_at_rest * 100:.2f}% of one core over {args.rest_seconds:g} s, RSS {memory:.1f} MiB"
    )
    if latencies:
        print(
            f"fire -> accepted: median {statistics.median(latencies) * 1000:.1f} ms, "
            f"p99 {percentile(latencies, 0.99) * 1000:.1f} ms, max {max(latencies) * 1000:.1f} ms "
            f"over {len(latencies)} fire times"
        )
    if accepted:
        claimed = [(r.created_at - r.fire_time).total_seconds() for r in accepted]
        posted = [(r.dispatched_at - r.created_at).total_seconds() for r in accepted]
        print(
            f"  of which due -> picked up: median {statistics.median(claimed) * 1000:.1f} ms, "
            f"p99 {percentile(claimed, 0.99) * 1000:.1f} ms; picked up -> accepted: median "
            f"{statistics.median(posted) * 1000:.1f} ms, p99 {percentile(posted, 0.99) * 1000:.1f} ms"
        )
    print("not dispatched: " + ", ".join(f"{n} {status}" for status, n in others.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
