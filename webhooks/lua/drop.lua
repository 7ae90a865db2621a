-- Forget one delivery lane and what waits in it (its endpoint is gone or disabled).
-- KEYS: 1 lane list, 2 heads hash, 3 endpoint's due set, 4 ready set, 5 holds hash.
-- ARGV: 1 due member, 2 endpoint id.
redis.call('DEL', KEYS[1])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
reindex(KEYS[4], KEYS[3], ARGV[2], free_at(KEYS[5], ARGV[2]))
return 1
