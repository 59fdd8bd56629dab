"""The Lua scripts of the outbox's Redis store: `acd.store.outbox_redis` says what they keep (its
keys, claims, backoffs); `PUT_LUA` is shared with the log's append script (`acd.store.redis_scripts`).
"""

from __future__ import annotations

from acd.outbox_lanes import DEFERRED_COMMANDS

#: An urgent command's place is its creation number minus this (see the module docstring).
URGENT_OFFSET = 2**50

#: Lua: `urgent(body)`, whether the command (its JSON) goes in the urgent lane (a kind not deferred).
_LANE_LUA = (
    "local deferred_kinds = {"
    + ", ".join(f'["{kind}"] = true' for kind in sorted(DEFERRED_COMMANDS))
    + "}\n"
    + f"local urgent_offset = {URGENT_OFFSET}\n"
    + """
local function urgent(body)
  local ok, command = pcall(cjson.decode, body)
  return not (ok and type(command) == 'table' and deferred_kinds[command['command']])
end
"""
)

#: Lua: add one command if its id is neither pending nor delivered, at its place (its lane and
#: creation number). Expects the locals kc, ks, ko, kr, kseq, kd (the outbox keys) in scope;
#: returns 1 when added.
PUT_LUA = (
    _LANE_LUA
    + """
local function put(id, body)
  if redis.call('HEXISTS', kc, id) == 1 or redis.call('ZSCORE', kd, id) then return 0 end
  local seq = redis.call('INCR', kseq)
  if urgent(body) then seq = seq - urgent_offset end
  local place = string.format('%d', seq)
  redis.call('HSET', kc, id, body)
  redis.call('HSET', ks, id, '[0,0.0,null]')
  redis.call('HSET', ko, id, place)
  redis.call('ZADD', kr, place, id)
  return 1
end
"""
)

#: Lua: the ids of `ready` in `lane`'s range ('' for every lane, the urgent one first), up to `limit`.
_LANE_RANGE_LUA = """
local function lane_range(lane, limit)
  if lane == 'urgent' then
    return redis.call('ZRANGEBYSCORE', kr, '-inf', '(0', 'LIMIT', 0, limit)
  elseif lane == 'deferred' then
    return redis.call('ZRANGEBYSCORE', kr, '(0', '+inf', 'LIMIT', 0, limit)
  end
  return redis.call('ZRANGE', kr, 0, limit - 1)
end
"""

_KEYS_LUA = """
local kc, ks, ko, kt, kr, kseq, kd = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
"""

#: Lua: the fence of `_RESCHEDULE` and `_DELIVERED`: ARGV[4], the lease value or '' to check none,
#: against KEYS[8] (the lease); a write by an instance that no longer holds it is refused.
_FENCE = """
if ARGV[4] ~= '' and redis.call('GET', KEYS[8]) ~= ARGV[4] then
  return redis.error_reply('FENCED this instance no longer holds the lease')
end"""

_PUT = (
    _KEYS_LUA
    + PUT_LUA
    + """
local added = {}
for i = 1, #ARGV, 2 do
  if put(ARGV[i], ARGV[i + 1]) == 1 then table.insert(added, ARGV[i]) end
end
return added
"""
)

# ARGV: now, limit, the lane or '' for every lane.
_DUE = (
    _KEYS_LUA
    + _LANE_RANGE_LUA
    + """
local now, limit = ARGV[1], tonumber(ARGV[2])
local promote = redis.call('ZRANGEBYSCORE', kt, '-inf', now)
for _, id in ipairs(promote) do
  redis.call('ZREM', kt, id)
  redis.call('ZADD', kr, redis.call('HGET', ko, id), id)
end
if limit <= 0 then return {} end
local out = {}
for _, id in ipairs(lane_range(ARGV[3], limit)) do
  table.insert(out, id)
  table.insert(out, redis.call('HGET', kc, id))
  table.insert(out, redis.call('HGET', ks, id))
end
return out
"""
)

# KEYS: the outbox keys, the lease, the backoff marks. ARGV: id, next_attempt_at, state JSON, lease
# value or '', '1' for a backoff.
_RESCHEDULE = (
    _KEYS_LUA
    + _FENCE
    + """
local id = ARGV[1]
if redis.call('HEXISTS', kc, id) == 0 then return 0 end
redis.call('HSET', ks, id, ARGV[3])
redis.call('ZREM', kr, id)
redis.call('ZADD', kt, ARGV[2], id)
if ARGV[5] == '1' then
  redis.call('ZADD', KEYS[9], ARGV[2], id)
else
  redis.call('ZREM', KEYS[9], id)
end
return 1
"""
)

# Lua: the fence (ARGV[2], the lease value or '' to check none, against KEYS[8]), then `due_now`:
# a command on the timeline moved to ready, its state's next attempt `now` (attempts, error kept).
_DUE_NOW_LUA = """
if ARGV[2] ~= '' and redis.call('GET', KEYS[8]) ~= ARGV[2] then
  return redis.error_reply('FENCED this instance no longer holds the lease')
end
local function due_now(id, now)
  local state = cjson.decode(redis.call('HGET', ks, id))
  local err = 'null'
  if type(state[3]) == 'string' then err = cjson.encode(state[3]) end
  redis.call('HSET', ks, id, '[' .. string.format('%d', state[1]) .. ',' .. now .. ',' .. err .. ']')
  redis.call('ZREM', kt, id)
  redis.call('ZADD', kr, redis.call('HGET', ko, id), id)
end
"""

# KEYS: the outbox keys, the lease, the backoff marks. ARGV: now, lease value or ''. A mark counts
# only while the command's time on the timeline is still the mark's (see the module docstring).
_END_BACKOFFS = (
    _KEYS_LUA
    + _DUE_NOW_LUA
    + """
local kb, now = KEYS[9], ARGV[1]
local marks = redis.call('ZRANGEBYSCORE', kb, '(' .. now, '+inf', 'WITHSCORES')
redis.call('DEL', kb)
local ended = 0
for i = 1, #marks, 2 do
  local id, at = marks[i], marks[i + 1]
  local current = redis.call('ZSCORE', kt, id)
  if current and tonumber(current) == tonumber(at) then
    due_now(id, now)
    ended = ended + 1
  end
end
return ended
"""
)

# KEYS: the outbox keys, the lease, the backoff marks. ARGV: now, lease value or '', then pairs of
# id and the time it was claimed until: released only while its time on the timeline is that one.
_RELEASE = (
    _KEYS_LUA
    + _DUE_NOW_LUA
    + """
local now, released = ARGV[1], 0
for i = 3, #ARGV, 2 do
  local id, claimed_until = ARGV[i], tonumber(ARGV[i + 1])
  local current = redis.call('ZSCORE', kt, id)
  if current and tonumber(current) == claimed_until and claimed_until > tonumber(now) then
    due_now(id, now)
    redis.call('ZREM', KEYS[9], id)
    released = released + 1
  end
end
return released
"""
)

_DELIVERED = (
    _KEYS_LUA
    + _FENCE
    + """
local id = ARGV[1]
if redis.call('HDEL', kc, id) == 0 then return 0 end
redis.call('HDEL', ks, id)
redis.call('HDEL', ko, id)
redis.call('ZREM', kt, id)
redis.call('ZREM', kr, id)
redis.call('ZREM', KEYS[9], id)
redis.call('ZADD', kd, ARGV[2], id)
redis.call('ZREMRANGEBYSCORE', kd, '-inf', '(' .. ARGV[3])
return 1
"""
)

# ARGV: the lanes ('' for every lane). Returns the timeline's first time (any lane's), then the
# state of the first command in `ready` of each lane given (false where it has none).
_NEXT_DUE = (
    _KEYS_LUA
    + _LANE_RANGE_LUA
    + """
local out = {false}
local t = redis.call('ZRANGE', kt, 0, 0, 'WITHSCORES')
if #t > 0 then out[1] = t[2] end
for i = 1, #ARGV do
  local r = lane_range(ARGV[i], 1)
  if #r > 0 then out[i + 1] = redis.call('HGET', ks, r[1]) else out[i + 1] = false end
end
return out
"""
)

# KEYS: the outbox keys, the lease. ARGV: lease value or '', then ids: each one the previous
# release filed (its place its creation number, above 0) that is urgent gets its urgent place, in
# `ready` too if it is there (else its next move into `ready` takes it).
_FILE_LANES = (
    _KEYS_LUA
    + _LANE_LUA
    + """
if ARGV[1] ~= '' and redis.call('GET', KEYS[8]) ~= ARGV[1] then
  return redis.error_reply('FENCED this instance no longer holds the lease')
end
local moved = 0
for i = 2, #ARGV do
  local id = ARGV[i]
  local place = tonumber(redis.call('HGET', ko, id))
  if place and place > 0 and urgent(redis.call('HGET', kc, id)) then
    local urgent_place = string.format('%d', place - urgent_offset)
    redis.call('HSET', ko, id, urgent_place)
    if redis.call('ZSCORE', kr, id) then redis.call('ZADD', kr, urgent_place, id) end
    moved = moved + 1
  end
end
return moved
"""
)
