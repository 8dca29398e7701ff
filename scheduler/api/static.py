"""``GET /static/{filename}``: the console's stylesheet and script, shipped in the package.

Only the files named in :data:`FILES` are served (an allowlist, so no path
from a request ever reaches the file system), read once from the package's
data (pyproject's package-data) and sent with a content hash as ``ETag``. They
are answered without the token: they hold no data, only the console's own code,
and a browser asks for them with whatever credentials it cached for the page.
"""

from __future__ import annotations

import functools
import hashlib
from importlib import resources

from werkzeug.wrappers import Request, Response

from scheduler.api.http import ApiError

FILES = {"console.css": "text/css", "console.js": "text/javascript"}


@functools.cache
def _read(filename: str) -> tuple[bytes, str]:
    data = resources.files("scheduler.api").joinpath("static", filename).read_bytes()
    return data, hashlib.sha256(data).hexdigest()[:16]


def static_file(ctx: object, request: Request, filename: str) -> Response:
    if filename not in FILES:
        raise ApiError(404, f"no such file: /static/{filename}")
    data, digest = _read(filename)
    response = Response(data, mimetype=FILES[filename], headers={"Cache-Control": "no-cache"})
    response.set_etag(digest)
    return response.make_conditional(request)
