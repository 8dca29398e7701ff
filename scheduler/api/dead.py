"""``GET|POST /api/dead``: the dead letters of each spider's queue, read, requeued or purged.

A payload a worker could not use (not a valid URL or JSON object, too large, a
URL delivered too many times) is kept in ``<spider>:dead``, newest first, as
JSON ``{payload, reason, spider, worker, at}``.

``GET /api/dead?spider=S&limit=N``: how many each spider has, and the newest
``limit`` letters (default 20) of ``spider``, or of every spider.

``POST /api/dead`` ``{"action": "requeue"|"purge", "spider": S}``: ``requeue``
pushes each letter's payload back onto ``<spider>:start_urls`` (the oldest
first, so the queue keeps their order) and removes it from the dead letters;
``purge`` deletes them. Each is one Lua script, so no letter is lost or
requeued twice when two people press the button at once. Answers with how
many letters it moved or deleted.
"""

from __future__ import annotations

import json
from typing import Any

import redis
from werkzeug.wrappers import Request, Response

from scheduler.api.context import ApiContext
from scheduler.api.http import ApiError, check_fields, json_response, query_int, query_text
from scheduler.api.queues import project_spiders
from scraperq.errors import StorageUnavailable, first_line
from scraperq.queue.keys import QueueKeys

ACTIONS = ("requeue", "purge")
DEFAULT_LIMIT = 20
MAX_LIMIT = 1000

# KEYS[1] the dead letters, KEYS[2] start URLs. Every letter with a payload goes back (oldest first, so
# the pushes keep their first order); a letter without one (not JSON) stays. Returns how many moved.
_REQUEUE = """
local letters = redis.call('LRANGE', KEYS[1], 0, -1)
local kept, moved = {}, 0
for i = #letters, 1, -1 do
  local ok, letter = pcall(cjson.decode, letters[i])
  if ok and type(letter) == 'table' and type(letter.payload) == 'string' then
    redis.call('LPUSH', KEYS[2], letter.payload)
    moved = moved + 1
  else
    table.insert(kept, 1, letters[i])
  end
end
redis.call('DEL', KEYS[1])
for i = #kept, 1, -1 do redis.call('LPUSH', KEYS[1], kept[i]) end
return moved
"""

# KEYS[1] the dead letters. Returns how many there were.
_PURGE = "local n = redis.call('LLEN', KEYS[1]) redis.call('DEL', KEYS[1]) return n"


def _letter(raw: bytes | str) -> dict[str, Any]:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    return value if isinstance(value, dict) else {"payload": text, "reason": "unreadable dead letter"}


def listing(ctx: ApiContext, request: Request) -> Response:
    spider = query_text(request, "spider")
    limit = query_int(request, "limit", default=DEFAULT_LIMIT, low=0, high=MAX_LIMIT)
    spiders = [spider] if spider else project_spiders(ctx)
    client = ctx.redis()
    try:
        keys = [QueueKeys.for_spider(s, ctx.settings).dead for s in spiders]
        pipe = client.pipeline(transaction=False)
        for key in keys:
            pipe.llen(key)
        counts = dict(zip(spiders, (int(n) for n in pipe.execute()), strict=True))
        letters: list[dict[str, Any]] = []
        for name, key in zip(spiders, keys, strict=True):
            if counts[name] and len(letters) < limit:
                letters += [dict(_letter(raw), spider=name) for raw in client.lrange(key, 0, limit - len(letters) - 1)]
    except redis.RedisError as exc:
        raise StorageUnavailable(f"Redis failed while reading dead letters: {first_line(exc)}") from None
    return json_response({"counts": counts, "letters": letters})


def act(ctx: ApiContext, request: Request, body: dict[str, Any]) -> Response:
    check_fields(body, ("action", "spider"), required=("action", "spider"))
    action, spider = body["action"], body["spider"]
    if action not in ACTIONS:
        raise ApiError(400, f"'action' must be one of {', '.join(ACTIONS)}")
    if not isinstance(spider, str) or not spider:
        raise ApiError(400, "'spider' must be a spider name")
    keys = QueueKeys.for_spider(spider, ctx.settings)
    client = ctx.redis()
    try:
        if action == "purge":
            count = int(client.eval(_PURGE, 1, keys.dead))
        else:
            count = int(client.eval(_REQUEUE, 2, keys.dead, keys.start_urls))
    except redis.RedisError as exc:
        raise StorageUnavailable(f"Redis failed while changing dead letters: {first_line(exc)}") from None
    return json_response({"action": action, "spider": spider, "count": count})
