"""The floors of docs/architecture.md, read from every module's imports (no module is imported).

Each module of ``scraperq`` sits on a floor and may import only its own floor and those below;
``scheduler`` may reach the crawl side only through the modules listed in ``DAEMON_REACHES``.
A module the table does not place fails the test, so a new one is placed on purpose.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.helpers import ROOT

FLOORS: dict[str, int] = {
    # 0. ground: words, types, parsing, address rules, request meta keys; no Scrapy, no database
    **dict.fromkeys(
        ("errors", "config", "settingtypes", "urls", "addresses", "payload_meta", "redact", "meta", "failures"), 0
    ),
    # 1. storage, and what reads only storage
    **dict.fromkeys(("storage", "archive", "retention", "times", "display"), 1),
    # 2. the queue and submission, and the crawl's ledger the queue acknowledges against
    **dict.fromkeys(("queue", "payloads", "submit", "redisclient", "crawlstore", "settling"), 2),
    # 3. what runs inside a crawl
    **dict.fromkeys(
        (
            "middlewares",
            "pipelines",
            "spiders",
            "sources",
            "rendering",
            "extract",
            "article",
            "maintext",
            "language",
            "scope",
            "fields",
            "items",
            "itemfields",
            "arguments",
            "resolver",
            "onlynew",
            "jobreport",
            "extensions",
            "settings",
            "addon",
        ),
        3,
    ),
    # 4. the command line
    **dict.fromkeys(("cli", "commands"), 4),
}

# What the daemon may import of the crawl side: storage and the ground, payload checks and
# submission, the spiders' argument declarations, and the queue's keys and sizes for its figures
# (read without Scrapy: tests/test_api_process.py checks the daemon never loads it).
DAEMON_REACHES = (
    "scraperq",
    "scraperq.errors",
    "scraperq.config",
    "scraperq.settingtypes",
    "scraperq.redact",
    "scraperq.times",
    "scraperq.display",
    "scraperq.storage",
    "scraperq.archive",
    "scraperq.retention",
    "scraperq.payloads",
    "scraperq.payload_meta",
    "scraperq.submit",
    "scraperq.redisclient",
    "scraperq.arguments",
    "scraperq.itemfields",
    "scraperq.spiders.arguments",
    "scraperq.queue.defaults",
    "scraperq.queue.keys",
    "scraperq.queue.deadletters",
    "scraperq.queue.redisqueue",
    "scraperq.queue.connection",
)


def modules(package: str) -> dict[str, Path]:
    found = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def imports(name: str, path: Path) -> set[str]:
    """Every project module ``name`` imports, at the top, in a function or for type checking alike."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, node.module] if node.module else base)
            names = [f"{module}.{alias.name}" for alias in node.names]
            submodules = [n for n in names if n in KNOWN]
            # ``from package import module`` uses the module; anything else, the package itself.
            found.update(submodules if len(submodules) == len(names) else [module, *submodules])
    return {m for m in found if m.split(".")[0] in ("scraperq", "scheduler")}


def floor_of(module: str) -> int | None:
    parts = module.split(".")
    return FLOORS.get(parts[1]) if len(parts) > 1 else None


CRAWL_SIDE = modules("scraperq")
DAEMON = modules("scheduler")
KNOWN = set(CRAWL_SIDE) | set(DAEMON)


@pytest.mark.parametrize("name", sorted(CRAWL_SIDE))
def test_a_crawl_side_module_imports_nothing_above_its_floor_and_never_the_daemon(name: str) -> None:
    if name == "scraperq":
        return
    floor = floor_of(name)
    assert floor is not None, f"{name} is on no floor: place it in FLOORS (and docs/architecture.md)"
    for imported in imports(name, CRAWL_SIDE[name]):
        assert not imported.startswith("scheduler"), f"{name} imports {imported}: the crawl side never imports it"
        above = floor_of(imported)
        assert above is None or above <= floor, f"{name} (floor {floor}) imports {imported} (floor {above})"


@pytest.mark.parametrize("name", sorted(DAEMON))
def test_the_daemon_reaches_the_crawl_side_only_through_storage_payloads_and_submission(name: str) -> None:
    for imported in imports(name, DAEMON[name]):
        if imported.split(".")[0] == "scraperq":
            assert imported in DAEMON_REACHES or any(
                imported.startswith(m + ".") for m in DAEMON_REACHES if m != "scraperq"
            ), f"{name} imports {imported}: the daemon reaches the crawl side only through DAEMON_REACHES"
