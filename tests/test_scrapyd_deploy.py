"""Deploying to Scrapyd: the egg, deploy/scrapyd.conf, the Procfile and the container files."""

from __future__ import annotations

import configparser
import os
import signal
import subprocess
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

import yaml

from tests.helpers import BIN, ROOT, crawl_env, free_port, wait_for


def test_the_egg_holds_the_scrapy_project_and_nothing_else(scrapyd_egg: Path) -> None:
    with zipfile.ZipFile(scrapyd_egg) as egg:
        names = egg.namelist()
        entry_points = egg.read("EGG-INFO/entry_points.txt").decode()

    assert {name.split("/")[0] for name in names} == {"scraperq", "EGG-INFO"}
    assert "scraperq/spiders/generic.py" in names
    assert "settings = scraperq.settings" in entry_points


def test_every_node_lists_the_projects_spiders_after_scrapyd_deploy(scrapyd: list[Any]) -> None:
    for node in scrapyd:
        assert "generic" in node.call("listspiders.json?project=scraperq")["spiders"]


def test_a_node_with_credentials_refuses_requests_without_them(scrapyd: list[Any]) -> None:
    secured = scrapyd[0]

    try:
        urllib.request.urlopen(f"{secured.name}/daemonstatus.json", timeout=10)
    except urllib.error.HTTPError as exc:
        assert exc.code == 401
    else:
        raise AssertionError("Scrapyd answered without credentials")


def test_scrapyd_conf_listens_on_loopback_and_holds_no_credentials() -> None:
    config = configparser.ConfigParser()
    config.read(ROOT / "deploy" / "scrapyd.conf")

    assert config["scrapyd"]["bind_address"] == "127.0.0.1"
    assert config["scrapyd"]["username"] == "" and config["scrapyd"]["password"] == ""
    assert float(config["scrapyd"]["poll_interval"]) <= 1


def test_compose_file_runs_the_whole_cluster_on_loopback_ports_without_default_passwords() -> None:
    compose = yaml.safe_load((ROOT / "deploy" / "docker-compose.yml").read_text())
    services = compose["services"]

    assert {"postgres", "redis", "scrapyd1", "scrapyd2", "scheduler"} <= set(services)
    for service in services.values():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), port
    assert "SCRAPYD_PASSWORD:?" in services["scrapyd1"]["environment"]["SCRAPYD_PASSWORD"]
    assert services["scrapyd2"]["environment"]["DATABASE_URL"].startswith("postgresql://")
    assert "scrapyd1:6800" in services["scheduler"]["environment"]["SCRAPYD_NODES"]


def test_the_procfile_starts_scrapyd_and_the_scheduler_with_one_command(tmp_path: Path) -> None:
    port = free_port()
    env = crawl_env(
        f"sqlite:///{tmp_path / 'db.sqlite3'}",
        SCRAPYD_DATA=str(tmp_path / "scrapyd"),
        SCRAPYD_HTTP_PORT=str(port),
        SCRAPERQ_API_BIND="127.0.0.1:0",
    )
    log = tmp_path / "honcho.log"
    with open(log, "wb") as out:
        honcho = subprocess.Popen(
            [str(BIN / "honcho"), "-f", "deploy/Procfile", "start", "--no-colour"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for(lambda: b"became the leader" in log.read_bytes(), timeout=60, message="the scheduler to lead")

        def scrapyd_answers() -> bool:  # it may come up after the scheduler
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/daemonstatus.json", timeout=10) as response:
                    return b'"status": "ok"' in response.read()
            except urllib.error.URLError:
                return False

        wait_for(scrapyd_answers, timeout=60, message="Scrapyd to answer")
    finally:
        honcho.send_signal(signal.SIGINT)
        try:
            honcho.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(honcho.pid, signal.SIGKILL)
            honcho.wait()
    assert (tmp_path / "scrapyd" / "scrapyd.conf").exists()
    assert b"REDIS_URL is not set: no queue worker" in log.read_bytes()  # the worker line waits, stops nothing
