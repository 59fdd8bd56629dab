"""The Redis store: every write logged before it is acknowledged, one leader, replicas that follow.

Roles. Each instance keeps a replica of the engine. One instance holds the lease (`SET NX PX` with
a fencing token, renewed every third of its TTL) and is the leader: it alone applies writes, fires
the timers and sends the outbound commands (the service starts its outbox when the store reports
that it leads). The others are followers: they tail the log to keep their replica in step (so
reads are served locally and a takeover needs no reload), forward their writes to the leader
through the inbox, and try to take the lease whenever it lapses.

The protocol, one module per part:

- `lease`       the lease: taken, renewed, given back (or forgotten, by a crash).
- `replica`     the engine this instance keeps, and recovery: the snapshot, then the log after it
                replayed in order, each entry at its recorded engine time; a gap means reload.
- `writer`      the leader's group commit: apply each write, then append the whole group with its
                commands in one script fenced by the lease; acknowledge only after that. A failed
                append marks the replica dirty and ends the leadership (reload first).
- `forwarding`  a follower's write through the inbox, answered from its own replica once it has
                applied the logged entry; refusals come back on the follower's reply channel.
- `snapshots`   when and how the engine is snapshotted, and read back (the one place that encodes
                and decodes it, through `acd.store.snapshot`).
- `store`       `RedisStore`: the Store protocol and the role loop (resync, follow, lead).
- `connection`, `metrics`: the clients (URL or Sentinel) and `acd_store_*`.

Keys, under the prefix (`acd:` by default; the layout is in `acd.store.redis_log`,
its Lua scripts in `acd.store.redis_scripts`, the outbox's in `acd.store.outbox_redis`):

    log              stream   every input that changed the engine, `<seq> <now> <kind> <request>`
                              then the events as JSON; gapless `seq`; `h`: the events' digests
    snapshot         hash     `header` (JSON), `data` (the encoded engine), `seq` and `id` covered
    lease            string   `<instance>/<token>` with a TTL: the leader's lease
    fence            counter  each new lease takes the next token; every write script checks it
    epoch            string   made when the store is first used; gone: Redis lost its data
    inbox            stream   writes forwarded by followers to the leader
    reply:<instance> pub/sub  the leader's refusals and confirmations of forwarded writes
    outbox:*                  the outbox, written in the same script as the log
    config:log       string   the fingerprint of the configuration the log after the snapshot
                              is written under (set by each new leader before its first write)
    config:<fp>      string   that configuration (zlib JSON), for a restart under another one
    config:log:term  counter  counted up each time a leader changes `config:log`: a follower
                              reloads under the new configuration before reading on

Replicas (ACD_REDIS_MIN_REPLICAS > 0): the append is followed by `WAIT` on the same connection,
and the group is answered only if enough replicas confirmed in time; otherwise it answers 503
though it stays applied and stored (a failover could lose it; the retry is safe), and a forwarded
write is answered by its follower only on the leader's word that the replicas have it. Sentinel:
the client asks the sentinels for the master on each new connection; after a failover, the write
that fails on the demoted master sends this instance through the usual reload.

Redis outage: writes answer 503, `ready()` is false, and the loop retries until Redis is back.
If Redis comes back empty (restarted without persistence), the first instance to take the lease
writes its own state back as the new base (see docs/redis.md: configure persistence instead).
"""

from acd.store.redis.connection import connect, connect_sentinel
from acd.store.redis.metrics import StoreMetrics
from acd.store.redis.store import RedisStore, Role

__all__ = ["RedisStore", "Role", "StoreMetrics", "connect", "connect_sentinel"]
