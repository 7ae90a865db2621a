-- Move what an order's log as a stream still holds into its sorted set, after what the set holds:
-- attempts a worker of the version before wrote there after the move (during a rolling upgrade).
-- KEYS: 1 the order's log (sorted set), 2 that log as a stream. Returns the set's last score.
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')[2]
return move_order_log(KEYS[2], KEYS[1], tonumber(last or '0'))
