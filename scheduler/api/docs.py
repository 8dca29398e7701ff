"""``GET /docs``: Swagger UI on ``/openapi.json``, its files served from the installed package.

The script, style and icons come from the pinned ``swagger-ui-py`` package (which
ships Swagger UI's built files), read from its folder and served under ``/docs/``:
nothing is loaded from another site, and the page's Content-Security-Policy
allows only this server. Only the files named in :data:`ASSETS` are served. The
starter script is ours (``static/docs.js``), since the policy allows no inline script.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

from werkzeug.wrappers import Request, Response

from scheduler.api.http import ApiError

# Served name -> media type.
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui-standalone-preset.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "index.css": "text/css",
    "favicon-32x32.png": "image/png",
    "favicon-16x16.png": "image/png",
    "docs.js": "text/javascript",
}
MEDIA_TYPES = tuple(sorted(set(ASSETS.values())))

_OURS = Path(__file__).with_name("static")
_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:;"
    " connect-src 'self'; font-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>scraperq API</title>
<link rel="stylesheet" href="/docs/swagger-ui.css">
<link rel="stylesheet" href="/docs/index.css">
<link rel="icon" type="image/png" href="/docs/favicon-32x32.png" sizes="32x32">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script src="/docs/swagger-ui-standalone-preset.js"></script>
<script src="/docs/docs.js"></script>
</body>
</html>
"""


@functools.cache
def _swagger_folder() -> Path | None:
    # Found without importing the package (its __init__ loads web-framework glue we do not use).
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "static"


def page(ctx: object, request: Request) -> Response:
    return Response(PAGE, mimetype="text/html", headers={"Content-Security-Policy": _POLICY})


def asset(ctx: object, request: Request, asset: str) -> Response:
    media = ASSETS.get(asset)
    folder = _OURS if asset == "docs.js" else _swagger_folder()
    if media is None or folder is None or not (folder / asset).is_file():
        raise ApiError(404, f"no such file: /docs/{asset}")
    return Response(
        (folder / asset).read_bytes(),
        mimetype=media,
        headers={"Cache-Control": "public, max-age=86400", "Content-Security-Policy": _POLICY},
    )
