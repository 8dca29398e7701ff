"""Archives in S3-compatible object storage: a real S3 server (moto's, in server mode, on loopback).

The server is stopped in the middle of a retention run, as an object store going away would: the
day being archived is not deleted, and the run started again once the store is back archives the
rest, each row once. ``scraperq archive list`` and ``restore`` read the same bucket.
"""

from __future__ import annotations

import gzip
import json

import boto3
import pytest
from moto.server import ThreadedMotoServer

from scraperq import retention
from scraperq.archive import list_days, open_store, restore_day
from scraperq.archive.stores import ArchiveUnavailable, S3Store
from scraperq.storage import open_database
from scraperq.storage.partitions import day_of
from tests.helpers import free_port
from tests.test_retention import NOW, days_ago, seed, stored

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch):
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="archive")
    yield server, endpoint
    server.stop()


def objects(endpoint: str) -> dict[str, bytes]:
    client = boto3.client("s3", endpoint_url=endpoint)
    listed = client.list_objects_v2(Bucket="archive").get("Contents", [])
    return {o["Key"]: client.get_object(Bucket="archive", Key=o["Key"])["Body"].read() for o in listed}


def test_a_store_gone_mid_run_deletes_nothing_unarchived_and_the_next_run_resumes(s3, sqlite_url: str) -> None:
    server, endpoint = s3
    db = open_database(sqlite_url)
    seed(db)
    _, before = stored(db)
    store = open_store("s3://archive/scraperq/daily", endpoint_url=endpoint)
    assert isinstance(store, S3Store)
    puts = 0
    real_put = store.put

    def put_then_stop(key: str, data: bytes) -> None:
        nonlocal puts
        puts += 1
        if puts == 3:  # the second day's object: the server goes away before it is stored
            server.stop()
        real_put(key, data)

    store.put = put_then_stop  # type: ignore[method-assign]
    with pytest.raises(ArchiveUnavailable):
        retention.apply(db, retention.retention_cutoffs(db, 7, NOW), store=store)
    _, after_failure = stored(db)
    assert sorted(set(before) - set(after_failure)) == [f"done:11:{n}" for n in range(3)]

    server.start()  # the same server and its bucket, back
    store.put = real_put  # type: ignore[method-assign]
    retention.apply(db, retention.retention_cutoffs(db, 7, NOW), store=store)

    _, kept = stored(db)
    archived = []
    for key, body in objects(endpoint).items():
        assert key.startswith("scraperq/daily/")
        if key.endswith(".jsonl.gz"):
            archived += [json.loads(line) for line in gzip.decompress(body).splitlines()]
    fingerprints = sorted(r["row"]["fingerprint"] for r in archived if r["table"] == "results")
    assert fingerprints == sorted(set(before) - set(kept)) and len(fingerprints) == 9
    assert [m["day"] for m in list_days(store)] == sorted(
        [day_of(days_ago(d)).isoformat() for d in (11, 10, 9)] + [day_of(days_ago(9)).isoformat()]
    )
    [restored] = restore_day(db, store, day_of(days_ago(10)), "books")
    assert (restored.tasks, restored.results) == (1, 3)
    db.close()


def test_an_unknown_bucket_is_one_clear_error(s3) -> None:
    _, endpoint = s3
    store = open_store("s3://no-such-bucket/x", endpoint_url=endpoint)
    with pytest.raises(ArchiveUnavailable, match="cannot write the archive at s3://no-such-bucket/x/"):
        store.put("a", b"b")
