"""The Lua scripts of the Redis log (acd.store.redis_log): the lease, the fenced append of log
entries with their commands, the snapshot and the reseed after Redis lost its data. Each write
script checks first that the caller still holds the lease (its fencing), in the same script as the
write, so nothing is written by an instance that lost it."""

from __future__ import annotations

from acd.store.outbox_lua import _KEYS_LUA, PUT_LUA

ACQUIRE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local value = ARGV[1] .. '/' .. redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], value, 'PX', ARGV[2])
return value
"""

RENEW = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""

RELEASE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1])
"""

# KEYS: the outbox keys (7), lease, log, snapshot. ARGV: lease value, entry count, 2 per entry
# (the entry, its events' digests or empty: no `h` field), then command count, 2 per command (id,
# JSON). The entries must follow the log's last one (or the snapshot's, the log trimmed): a Redis
# that lost the log's tail (a failover to a replica that had not received it) must not get a gap,
# which every reload would then trip over.
APPEND = (
    _KEYS_LUA
    + PUT_LUA
    + """
if redis.call('GET', KEYS[8]) ~= ARGV[1] then
  return redis.error_reply('FENCED this instance no longer holds the lease')
end
local last = redis.call('XREVRANGE', KEYS[9], '+', '-', 'COUNT', 1)
local at
if #last > 0 then
  at = tonumber(string.match(last[1][2][2], '^(%d+) '))
else
  at = tonumber(redis.call('HGET', KEYS[10], 'seq') or '0')
end
local first = tonumber(string.match(ARGV[3], '^(%d+) '))
if first ~= at + 1 then
  return redis.error_reply('DIVERGED the log ends at ' .. at .. ', this write starts at ' .. first)
end
local n, ids = tonumber(ARGV[2]), {}
for j = 1, n do
  local digests = ARGV[2 + 2 * j]
  if digests == '' then
    ids[j] = redis.call('XADD', KEYS[9], '*', 'd', ARGV[1 + 2 * j])
  else
    ids[j] = redis.call('XADD', KEYS[9], '*', 'd', ARGV[1 + 2 * j], 'h', digests)
  end
end
local i = 3 + 2 * n
local m = tonumber(ARGV[i])
i = i + 1
for j = 1, m do
  put(ARGV[i], ARGV[i + 1])
  i = i + 2
end
return ids
"""
)

# KEYS: lease, snapshot, log. ARGV: lease value, seq, id, header, data, records. A snapshot never
# replaces a newer one; the log entries it covers are trimmed.
SAVE_SNAPSHOT = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return redis.error_reply('FENCED this instance no longer holds the lease')
end
local current = redis.call('HGET', KEYS[2], 'seq')
if current and tonumber(current) >= tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[2], 'seq', ARGV[2], 'id', ARGV[3], 'header', ARGV[4], 'data', ARGV[5],
           'records', ARGV[6])
redis.call('XTRIM', KEYS[3], 'MINID', ARGV[3])
return 1
"""

# KEYS: lease, epoch, snapshot, log. ARGV: lease value, new epoch, seq, header, data, records. After Redis
# lost its data: the leader writes its own state back as the base, if nobody did it first.
RESEED = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return redis.error_reply('FENCED this instance no longer holds the lease')
end
if redis.call('EXISTS', KEYS[3]) == 1 or redis.call('XLEN', KEYS[4]) > 0 then return 0 end
redis.call('SET', KEYS[2], ARGV[2])
redis.call('HSET', KEYS[3], 'seq', ARGV[3], 'id', '0-0', 'header', ARGV[4], 'data', ARGV[5],
           'records', ARGV[6])
return 1
"""
