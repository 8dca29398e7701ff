"""The queue's Lua scripts: each change of queue state is one atomic script.

Atomicity is what makes the queue lose nothing: a request is marked seen in the
same step that queues it, a retry is queued in the same step that settles the
attempt it replaces, and an entry only leaves ``start_urls`` or the requests
zset by moving into a worker's held hash. Times come from Redis (``TIME``), so
workers on machines with different clocks agree on leases and retry times.

The scripts touch keys derived from the declared ones (held hashes of other
workers, seen-set shards), which standalone Redis allows; like scrapy-redis,
the queue is not written for Redis Cluster.
"""

from __future__ import annotations

# Helpers shared by the scripts below (prepended to those that need them).
_PRELUDE = r"""
local function now()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end

local function parse(m)
  return string.match(m, '^([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|(.*)$')
end

local function priority_of(m)
  local _, _, prio = parse(m)
  return tonumber(prio)
end

-- Fair share within a priority: a score is -priority + tag / TURN.
-- Each task's entries get tags 1, 2, 3... from where the queue's clock stands (the tag
-- of the last entry taken) when the task was idle, so a task that just came in is
-- served next to one that queued thousands, rather than behind them. Entries put back
-- (released, re-delivered, retries that fell due) have tag 0: first in their priority.
local TURN = 4294967296

local function fair_score(prio, tag)
  return -prio + tag / TURN
end

local function next_tag(rkey, task, clock)
  if task == '' then task = '-' end
  local tkey = rkey .. ':turn:' .. task
  local tag = math.max(clock, tonumber(redis.call('GET', tkey) or '0')) + 1
  if tag >= TURN then tag = TURN - 1 end
  redis.call('SET', tkey, string.format('%d', tag), 'EX', 86400)
  return tag
end

-- The seen-set of one task: levels of small integer sets (see dupefilter.py).
-- Level L has 2^L shards and takes the fingerprints numbered from
-- SHARD*(2^L-1) to SHARD*(2^(L+1)-1), so every shard holds about SHARD of them
-- and stays in Redis' compact intset encoding whatever the task's size.
local SHARD = 256

local function level_of(count)
  local level, cap = 0, SHARD
  while count >= cap do
    level = level + 1
    cap = cap + SHARD * 2 ^ level
  end
  return level
end

local function shard_key(dkey, scope, level, bucket)
  return dkey .. ':' .. scope .. ':' .. level .. ':' .. (bucket % (2 ^ level))
end

-- mode 'c': add unless present (false when it was); 'a': just make sure it is recorded.
local function seen_add(dkey, scope, fp, bucket, ttl, mode)
  local count = tonumber(redis.call('HGET', dkey, scope) or '0')
  local top = level_of(count)
  for level = 0, top do
    if redis.call('SISMEMBER', shard_key(dkey, scope, level, bucket), fp) == 1 then
      return mode ~= 'c'
    end
  end
  local key = shard_key(dkey, scope, top, bucket)
  redis.call('SADD', key, fp)
  redis.call('HINCRBY', dkey, scope, 1)
  redis.call('EXPIRE', key, ttl)
  return true
end

local function seen_drop(dkey, scope)
  local count = tonumber(redis.call('HGET', dkey, scope) or '0')
  if count > 0 then
    for level = 0, level_of(count - 1) do
      local batch = {}
      for shard = 0, 2 ^ level - 1 do
        batch[#batch + 1] = dkey .. ':' .. scope .. ':' .. level .. ':' .. shard
        if #batch == 256 then
          redis.call('DEL', unpack(batch))
          batch = {}
        end
      end
      if #batch > 0 then redis.call('DEL', unpack(batch)) end
    end
  end
  redis.call('HDEL', dkey, scope)
end

-- Acknowledge one held entry: it leaves the held hash, its task has one entry
-- fewer outstanding, and a task with none left has its seen-set dropped.
-- Returns 0 when the entry was not held (it was re-delivered elsewhere meanwhile),
-- 2 when it was its task's last entry (the task has drained), else 1.
local function settle(hkey, okey, dkey, id, task)
  if redis.call('HDEL', hkey, id) == 0 then return 0 end
  if task ~= '' then
    if redis.call('HINCRBY', okey, task, -1) <= 0 then
      redis.call('HDEL', okey, task)
      seen_drop(dkey, task)
      return 2
    end
  end
  return 1
end
"""

# KEYS: requests, delayed, dupefilter, outstanding, held, seq
# ARGV: seen ttl, then per request: task, seen mode, fingerprint, bucket, priority,
#       delay seconds, handoff id, handoff task, body
# A handoff is the held entry this request replaces (a retry or a redirect of it,
# or the start payload it was made from): settled in the same step.
PUSH = (
    _PRELUDE
    + r"""
local t0, ttl = now(), ARGV[1]
local pushed, filtered, stale = 0, 0, 0
local clock = tonumber(redis.call('GET', KEYS[1] .. ':clock') or '0')
for i = 2, #ARGV, 9 do
  local task, mode, prio, delay = ARGV[i], ARGV[i + 1], ARGV[i + 4], tonumber(ARGV[i + 5])
  local hid, htask = ARGV[i + 6], ARGV[i + 7]
  -- A handoff is queued only while the entry it replaces is still held here: if it
  -- is not, this step already ran (a retried call) or the entry went to another
  -- worker when this one's lease ran out, and queueing it again would duplicate it.
  -- The count goes up before the old entry is settled, so the task never looks drained.
  if hid == '' or redis.call('HEXISTS', KEYS[5], hid) == 1 then
    local fresh = true
    if mode ~= '' then
      local scope = task
      if scope == '' then scope = '-' end
      fresh = seen_add(KEYS[3], scope, ARGV[i + 2], tonumber(ARGV[i + 3]), ttl, mode)
    end
    if fresh then
      local id = string.format('%012x', redis.call('INCR', KEYS[6]))
      local member = id .. '|0|' .. prio .. '|' .. task .. '|r|' .. ARGV[i + 8]
      if delay > 0 then
        redis.call('ZADD', KEYS[2], t0 + delay, member)
      else
        redis.call('ZADD', KEYS[1], fair_score(tonumber(prio), next_tag(KEYS[1], task, clock)), member)
      end
      if task ~= '' then redis.call('HINCRBY', KEYS[4], task, 1) end
      pushed = pushed + 1
    else
      filtered = filtered + 1
    end
    if hid ~= '' then settle(KEYS[5], KEYS[4], KEYS[3], hid, htask) end
  else
    stale = stale + 1
  end
end
return {pushed, filtered, stale}
"""
)

# KEYS: requests, delayed, workers, held
# ARGV: lease seconds, worker, how many to take
# Moves retries that fell due into the queue, renews the lease, takes entries.
POP = (
    _PRELUDE
    + r"""
local t0 = now()
for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', t0, 'LIMIT', 0, 500)) do
  redis.call('ZADD', KEYS[1], -priority_of(m), m)
  redis.call('ZREM', KEYS[2], m)
end
redis.call('ZADD', KEYS[3], t0 + tonumber(ARGV[1]), ARGV[2])
local out = {}
if tonumber(ARGV[3]) > 0 then
  local popped = redis.call('ZPOPMIN', KEYS[1], ARGV[3])
  local clock = -1
  for i = 1, #popped, 2 do
    local m = popped[i]
    redis.call('HSET', KEYS[4], string.match(m, '^([^|]*)|'), m)
    out[#out + 1] = m
    local tag = math.floor((tonumber(popped[i + 1]) + priority_of(m)) * TURN + 0.5)
    if tag > clock then clock = tag end
  end
  if redis.call('ZCARD', KEYS[1]) == 0 then
    redis.call('DEL', KEYS[1] .. ':clock')  -- drained: tags start again from 0
  elseif clock > tonumber(redis.call('GET', KEYS[1] .. ':clock') or '0') then
    redis.call('SET', KEYS[1] .. ':clock', string.format('%d', clock))
  end
end
return out
"""
)

# KEYS: start_urls, workers, held, seq
# ARGV: how many, lease seconds, worker, nonce
# Takes payloads from the consuming end of start_urls into the held hash as start
# entries. The token (entry id plus a nonce from the caller) names the task row the
# payload creates, so a payload re-delivered after a crash reuses that row.
FEED = (
    _PRELUDE
    + r"""
redis.call('ZADD', KEYS[2], now() + tonumber(ARGV[2]), ARGV[3])
local out = {}
for _ = 1, tonumber(ARGV[1]) do
  local raw = redis.call('RPOP', KEYS[1])
  if not raw then break end
  local id = string.format('%012x', redis.call('INCR', KEYS[4]))
  local token = cjson.encode(id .. '.' .. ARGV[4])
  local m = id .. '|0|0||s|{"token":' .. token .. ',"payload":' .. cjson.encode(raw) .. '}'
  redis.call('HSET', KEYS[3], id, m)
  out[#out + 1] = m
end
return out
"""
)

# KEYS: held, outstanding, dupefilter
# ARGV: id, task, id, task, ...
# Returns {entries acknowledged, then the tasks that have drained}.
ACK = (
    _PRELUDE
    + r"""
local out = {0}
for i = 1, #ARGV, 2 do
  local settled = settle(KEYS[1], KEYS[2], KEYS[3], ARGV[i], ARGV[i + 1])
  if settled > 0 then out[1] = out[1] + 1 end
  if settled == 2 then out[#out + 1] = ARGV[i + 1] end
end
return out
"""
)

# KEYS: held, requests
# ARGV: ids
# Gives held entries back to the queue as they are (no delivery counted).
RELEASE = (
    _PRELUDE
    + r"""
local n = 0
for i = 1, #ARGV do
  local m = redis.call('HGET', KEYS[1], ARGV[i])
  if m then
    redis.call('ZADD', KEYS[2], -priority_of(m), m)
    redis.call('HDEL', KEYS[1], ARGV[i])
    n = n + 1
  end
end
return n
"""
)

# KEYS: dead, held, outstanding, dupefilter
# ARGV: how many dead letters to keep, then per entry: id, task, dead letter (JSON)
DEAD = (
    _PRELUDE
    + r"""
local n = 0
for i = 2, #ARGV, 3 do
  if settle(KEYS[2], KEYS[3], KEYS[4], ARGV[i], ARGV[i + 1]) > 0 then
    redis.call('LPUSH', KEYS[1], ARGV[i + 2])
    n = n + 1
  end
end
redis.call('LTRIM', KEYS[1], 0, tonumber(ARGV[1]) - 1)
return n
"""
)

# KEYS: workers, requests, held (the caller's)
# ARGV: held key prefix, caller, max deliveries
# Workers whose lease ran out are gone: what they held goes back to the queue with
# one more delivery counted. An entry that reached the limit moves to the caller's
# held hash instead and is returned, for the caller to dead-letter.
RECLAIM = (
    _PRELUDE
    + r"""
local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now(), 'LIMIT', 0, 20)
local workers, moved, buried = 0, 0, {}
for _, w in ipairs(gone) do
  if w ~= ARGV[2] then
    local hkey = ARGV[1] .. w
    for _, m in ipairs(redis.call('HVALS', hkey)) do
      local id, n, prio, task, kind, body = parse(m)
      n = tonumber(n) + 1
      local again = id .. '|' .. n .. '|' .. prio .. '|' .. task .. '|' .. kind .. '|' .. body
      if n >= tonumber(ARGV[3]) then
        redis.call('HSET', KEYS[3], id, again)
        buried[#buried + 1] = again
      else
        redis.call('ZADD', KEYS[2], -tonumber(prio), again)
        moved = moved + 1
      end
    end
    redis.call('DEL', hkey)
    redis.call('ZREM', KEYS[1], w)
    workers = workers + 1
  end
end
return {workers, moved, buried}
"""
)

# KEYS: workers, epoch
# ARGV: lease seconds, worker
# Returns {1 when the worker had been taken for gone (its entries were re-delivered),
# the queue's epoch or false}: a missing epoch tells the worker that Redis lost the queue.
HEARTBEAT = (
    _PRELUDE
    + r"""
return {redis.call('ZADD', KEYS[1], now() + tonumber(ARGV[1]), ARGV[2]), redis.call('GET', KEYS[2])}
"""
)

# KEYS: rebuild lock, seq, epoch
# ARGV: worker, lock lease in milliseconds
# Takes (or renews) the lock of a rebuild; 0 when the queue has an epoch again (another
# worker finished the rebuild) or another worker holds the lock. A new lock moves the
# entry sequence far on, so no new entry shares an id with one from before the loss
# that a worker still has in hand.
REBUILD_LOCK = r"""
if redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  redis.call('INCRBY', KEYS[2], 16777216)
  return 1
end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

# KEYS: rebuild lock, epoch
# ARGV: worker, new epoch
# The rebuild is complete: name this copy of the queue and drop the lock (if still ours).
REBUILT = r"""
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2])
redis.call('DEL', KEYS[1])
return 1
"""

# KEYS: held, requests, workers
# ARGV: worker
# A worker leaving: whatever it still holds goes back to the queue, then it deregisters.
RETIRE = (
    _PRELUDE
    + r"""
local n = 0
for _, m in ipairs(redis.call('HVALS', KEYS[1])) do
  redis.call('ZADD', KEYS[2], -priority_of(m), m)
  n = n + 1
end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[3], ARGV[1])
return n
"""
)
