"""CPU time per page of the generic spider, this tree against another revision, on one local site.

Run from the project folder when the machine is otherwise quiet::

    .venv/bin/python bench/generic_cpu.py [--pages 2000] [--repeat 3] [--against main]

The site is the queue benchmark's (``bench/static_site.py``: pages of about 3 KB of
text in ``<main><article>``, each linking to a few others). Each run is
``scrapy crawl generic -a follow=same-host -a depth=100`` as a real process with
bare Scrapy's components (in-memory scheduler, no item pipeline: the queue
benchmark's mode (a)), so the figure is the spider's own work per page (parsing,
metadata, main text, links) plus Scrapy's, and nothing of the database's.

CPU is the user+system time of the crawl process (``RUSAGE_CHILDREN``). Start-up
is taken out: a crawl of the start page alone is run too, and

    CPU per page = (CPU of the whole crawl - CPU of the one-page crawl) / (pages - 1)

Rows: this tree as it is; this tree with ``-a text=none`` (links and metadata
only); and, with ``--against REV``, that revision of the project (exported with
``git archive`` into a temporary folder and run with the same virtualenv). Each
mode runs ``--repeat`` times, in turns; the median is shown with the spread.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))

from bench.queue_throughput import BARE as QUEUE_BENCH_BARE  # noqa: E402

# The queue benchmark's mode (a): bare Scrapy's components, no item pipeline.
BARE = [*QUEUE_BENCH_BARE, "-s", "LOGSTATS_INTERVAL=3600"]


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def crawl_cpu(project: Path, site: str, args: list[str], workdir: Path) -> tuple[float, int]:
    """CPU seconds of one ``scrapy crawl generic`` run from ``project``, and the pages it fetched."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SCRAPERQ_", "SCRAPY_", "REDIS_"))}
    env.update(
        {
            "DATABASE_URL": f"sqlite:///{workdir / 'unused.sqlite3'}",
            "SCRAPERQ_ALLOW_PRIVATE": "127.0.0.0/8",
            "PYTHONPATH": str(project),
        }
    )
    urllib.request.urlopen(site + "/__reset__", timeout=10).close()
    before = children_cpu()
    command = [str(BIN / "scrapy"), "crawl", "generic", "-a", f"url={site}/p/0.html", *args, *BARE]
    subprocess.run(command, cwd=project, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    used = children_cpu() - before
    with urllib.request.urlopen(site + "/__stats__", timeout=10) as resp:
        import json

        pages = int(json.load(resp)["pages"])
    return used, pages


def per_page(project: Path, site: str, extra: list[str], workdir: Path) -> tuple[float, int]:
    """Milliseconds of CPU per page, start-up taken out, and the pages crawled."""
    whole, pages = crawl_cpu(project, site, ["-a", "follow=same-host", "-a", "depth=100", *extra], workdir)
    alone, _ = crawl_cpu(project, site, extra, workdir)
    return 1000 * (whole - alone) / max(1, pages - 1), pages


def export_revision(revision: str, target: Path) -> Path:
    target.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", revision], cwd=ROOT, check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--pages", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--against", metavar="REV", help="also measure this git revision of the project")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="generic-cpu-"))
    site_proc = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "static_site.py"), "--pages", str(args.pages)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert site_proc.stdout is not None
        site = site_proc.stdout.readline().strip()
        modes: list[tuple[str, Path, list[str]]] = [
            ("this tree", ROOT, []),
            ("this tree, -a text=none", ROOT, ["-a", "text=none"]),
        ]
        if args.against:
            other = export_revision(args.against, workdir / "against")
            modes.append((f"{args.against} (git archive)", other, []))
        figures: dict[str, list[float]] = {label: [] for label, _, _ in modes}
        pages: dict[str, int] = {}
        for round_number in range(1, max(1, args.repeat) + 1):
            for label, project, extra in modes:
                ms, pages[label] = per_page(project, site, extra, workdir)
                figures[label].append(ms)
                print(f"  round {round_number}: {label}: {ms:.2f} ms/page ({pages[label]} pages)", flush=True)
        print(f"\n{'generic spider, bare Scrapy components':<44}{'pages':>7}{'CPU ms/page':>13}  runs")
        for label, _, _ in modes:
            runs = figures[label]
            spread = f"{min(runs):.2f}-{max(runs):.2f}"
            print(f"{label:<44}{pages[label]:>7}{statistics.median(runs):>13.2f}  {spread}")
        if args.against:
            ratio = statistics.median(figures["this tree"]) / statistics.median(figures[modes[-1][0]])
            print(f"\nthis tree / {args.against}: {ratio:.2f}x (target: at most 2x)")
    finally:
        site_proc.terminate()
        site_proc.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
