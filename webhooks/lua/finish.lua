-- Record one delivery attempt and move its lane on, in one step.
-- KEYS: 1 due set, 2 lane list, 3 heads hash, 4 failing hash, 5 endpoint log, 6 order log
--       (may equal 5 when the event has no order)
-- ARGV: 1 due member, 2 message id, 3 outcome: delivered | retry | failed, 4 next due (ms, for
--       retry), 5 now (ms), 6 head state JSON (for retry), 7 log entry JSON, 8 oldest log id to
--       keep, 9 endpoint id, 10 order log lifetime (s), 11 lease end (ms) when the worker goes
--       on with the lane's next message itself, else ''
-- Returns {'stale'} when the lane's head is no longer this message (dropped meanwhile), else
-- {'ok' | 'more', ms of the endpoint's first failure since its last success or ''}: 'more'
-- when the lane has a next message and stays leased to the caller (ARGV 11) to send it now.
if redis.call('LINDEX', KEYS[2], 0) ~= ARGV[2] then
  return {'stale'}
end
redis.call('XADD', KEYS[5], 'MINID', '~', ARGV[8], '*', 'doc', ARGV[7])
if KEYS[6] ~= KEYS[5] then
  redis.call('XADD', KEYS[6], 'MINID', '~', ARGV[8], '*', 'doc', ARGV[7])
  redis.call('EXPIRE', KEYS[6], tonumber(ARGV[10]))
end
local outcome = ARGV[3]
local going_on = 'ok'
if outcome == 'retry' then
  redis.call('HSET', KEYS[3], ARGV[1], ARGV[6])
  redis.call('ZADD', KEYS[1], ARGV[4], ARGV[1])
  redis.call('HSETNX', KEYS[4], ARGV[9], ARGV[5])
else
  redis.call('LPOP', KEYS[2])
  redis.call('HDEL', KEYS[3], ARGV[1])
  if redis.call('LLEN', KEYS[2]) > 0 then
    if ARGV[11] ~= '' then
      redis.call('ZADD', KEYS[1], ARGV[11], ARGV[1])
      going_on = 'more'
    else
      redis.call('ZADD', KEYS[1], ARGV[5], ARGV[1])
    end
  else
    redis.call('ZREM', KEYS[1], ARGV[1])
  end
  if outcome == 'delivered' then
    redis.call('HDEL', KEYS[4], ARGV[9])
  else
    redis.call('HSETNX', KEYS[4], ARGV[9], ARGV[5])
  end
end
return {going_on, redis.call('HGET', KEYS[4], ARGV[9]) or ''}
