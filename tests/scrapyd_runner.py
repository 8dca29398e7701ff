"""Scrapyd's job runner on the test nodes: ``scrapyd.runner`` itself, in a child of the test fork server.

The test nodes set Scrapyd's ``runner`` option to this module, so Scrapyd starts
``python -m tests.scrapyd_runner crawl SPIDER ...`` (and ``... list``) for each job. This small
process asks the fork server (tests/forkserver.py, socket in ``SCRAPERQ_TEST_FORK_SERVER``) for a
child that runs ``python -m scrapyd.runner`` with the same arguments, environment, folder and
standard streams: the stock runner, which activates the deployed egg and runs Scrapy from it,
minus the seconds of importing Scrapy. Signals Scrapyd sends (cancel.json) are passed on to the
child; this process ends as the child did. If it is killed, the server kills the child.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys

FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)


def main() -> None:
    env = dict(os.environ)
    server = env.pop("SCRAPERQ_TEST_FORK_SERVER")
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    conn.connect(server)
    request = {"module": "scrapyd.runner", "args": sys.argv[1:], "env": env, "cwd": os.getcwd()}
    socket.send_fds(conn, [json.dumps(request).encode()], [0, 1, 2])
    pid = json.loads(conn.recv(4096))["pid"]
    for number in FORWARDED:
        signal.signal(number, lambda received, _: os.kill(pid, received))
    message = conn.recv(4096)  # retried after each forwarded signal (PEP 475)
    code = json.loads(message)["returncode"] if message else 1
    if code < 0:  # killed by a signal: end the same way, so Scrapyd sees what it would have
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    sys.exit(code)


if __name__ == "__main__":
    main()
