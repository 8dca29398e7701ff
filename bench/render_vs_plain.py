"""Rendering benchmark: pages/s and worker memory, plain pages against pages rendered in Chromium.

Run from the project folder::

    .venv/bin/python bench/render_vs_plain.py [--pages 300]

It starts the test mock server and crawls the same site three ways with
``scrapy crawl generic`` as a real process, with the project's default settings:

* ``plain``: ``/js/static.html?id=N``, the story written in the HTML;
* ``auto``: ``/js/app.html?id=N``, an empty shell whose script writes the same
  story, with ``-a render=auto`` (each page fetched plain, found empty, rendered);
* ``always``: the same shells with ``-a render=always`` (straight to the browser).

Pages/s is items stored over Scrapy's own ``elapsed_time_seconds``. Memory is
sampled from /proc every 0.2 s: the worker's RSS (the Scrapy process), and the
PSS of the worker with every process under it (Playwright's driver, Chromium and
its renderers; PSS shares pages between processes instead of counting them once
per process). ``mid`` and ``end`` are the averages of the second and the last
quarter of the run: equal values mean memory stays flat as pages go by.
"""

from __future__ import annotations

import argparse
import ast
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.helpers import BIN, MockServer, crawl_env  # noqa: E402

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def _tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        todo += _children(current)
    return pids


def _rss(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_SIZE
    except (OSError, IndexError, ValueError):
        return 0


def _pss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


@dataclass
class Samples:
    worker_rss: list[int] = field(default_factory=list)
    total_pss: list[int] = field(default_factory=list)
    processes: int = 0


def sample(pid: int, samples: Samples, stop: threading.Event) -> None:
    while not stop.wait(0.2):
        tree = _tree(pid)
        samples.processes = max(samples.processes, len(tree))
        samples.worker_rss.append(_rss(pid))
        samples.total_pss.append(sum(_pss(p) for p in tree))


def _stat(log: str, name: str) -> float:
    match = re.search(rf"'{re.escape(name)}': ([^,\n]+)", log)
    return float(ast.literal_eval(match.group(1))) if match else 0.0


@dataclass
class Run:
    name: str
    pages: int
    seconds: float
    samples: Samples

    @property
    def rate(self) -> float:
        return self.pages / self.seconds if self.seconds else 0.0


def crawl(name: str, server: MockServer, path: str, count: int, render: str, workdir: Path) -> Run:
    urls_file = workdir / f"{name}.urls"
    urls_file.write_text(",".join(server(f"{path}?id={n}") for n in range(count)))
    database = f"sqlite:///{workdir / f'{name}.sqlite3'}"
    args = [str(BIN / "scrapy"), "crawl", "generic", "-a", f"urls={urls_file.read_text()}", "-a", f"render={render}"]
    env = crawl_env(database, LOG_LEVEL="INFO")
    proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    samples, stop = Samples(), threading.Event()
    sampler = threading.Thread(target=sample, args=(proc.pid, samples, stop), daemon=True)
    sampler.start()
    _, log = proc.communicate(timeout=1800)
    stop.set()
    sampler.join()
    if proc.returncode != 0:
        sys.exit(f"{name}: the crawl failed:\n{log[-3000:]}")
    stored = int(_stat(log, "item_scraped_count"))
    if stored != count:
        sys.exit(f"{name}: stored {stored} of {count} pages:\n{log[-3000:]}")
    return Run(name, stored, _stat(log, "elapsed_time_seconds"), samples)


def _mib(values: list[int]) -> float:
    return sum(values) / len(values) / 2**20 if values else 0.0


def _quarter(values: list[int], index: int) -> list[int]:
    size = max(1, len(values) // 4)
    return values[index * size : (index + 1) * size] or values[-1:]


def report(runs: list[Run]) -> None:
    rows = [
        ("pages", lambda r: f"{r.pages}"),
        ("seconds", lambda r: f"{r.seconds:.1f}"),
        ("pages/s", lambda r: f"{r.rate:.1f}"),
        ("processes (max)", lambda r: f"{r.samples.processes}"),
        ("worker RSS peak MiB", lambda r: f"{max(r.samples.worker_rss, default=0) / 2**20:.0f}"),
        ("with browser PSS peak MiB", lambda r: f"{max(r.samples.total_pss, default=0) / 2**20:.0f}"),
        ("with browser PSS mid MiB", lambda r: f"{_mib(_quarter(r.samples.total_pss, 1)):.0f}"),
        ("with browser PSS end MiB", lambda r: f"{_mib(_quarter(r.samples.total_pss, 3)):.0f}"),
    ]
    width = max(len(label) for label, _ in rows)
    print(f"{'':<{width}}  " + "  ".join(f"{r.name:>12}" for r in runs))
    for label, cell in rows:
        print(f"{label:<{width}}  " + "  ".join(f"{cell(r):>12}" for r in runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--pages", type=int, default=300, help="pages per run (default 300)")
    options = parser.parse_args()
    server = MockServer()
    try:
        with tempfile.TemporaryDirectory(prefix="scraperq-bench-") as folder:
            workdir = Path(folder)
            started = time.monotonic()
            runs = [
                crawl("plain", server, "/js/static.html", options.pages, "never", workdir),
                crawl("auto", server, "/js/app.html", options.pages, "auto", workdir),
                crawl("always", server, "/js/app.html", options.pages, "always", workdir),
            ]
            print(f"{options.pages} pages per run, same local site; {time.monotonic() - started:.0f} s in all\n")
            report(runs)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
