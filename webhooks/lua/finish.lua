-- Record one delivery attempt and move its lane on, in one step; optionally hand the caller the
-- endpoint's next message at once (the lane's next one, else the head of its next due lane).
-- KEYS: 1 endpoint's due set, 2 lane list, 3 heads hash, 4 failing hash, 5 endpoint log, 6 order
--       log (may equal 5 when the event has no order), 7 changes stream, 8 ready set, 9 holds hash
-- ARGV: 1 due member, 2 message id, 3 outcome: delivered | retry | failed, 4 next due (ms, for
--       retry), 5 now (ms), 6 head state JSON (for retry), 7 log entry JSON, 8 oldest log id to
--       keep, 9 endpoint id, 10 order log lifetime (s), 11 lease end (ms) when the caller goes on
--       with the endpoint's next message itself, else '', 12 lane key prefix, 13 and 14 the
--       endpoint's pace (interval, tolerance: ms), 15 when the receiver asked the whole endpoint
--       to wait: no attempt before this (ms), else '', 16 now as the API writes times
-- KEYS (continued): 10 warned hash, 11 endpoints hash, 12 the order log as a stream (written
--       before; may equal 5)
-- The caller goes on only when the endpoint's pace lets another attempt start now.
-- Returns {'stale'} when the lane's head is no longer this message (dropped meanwhile), else
-- {'ok', ms of the endpoint's first failure since its last success or ''}, or with ARGV 11 and a
-- message to go on with: {'more', that ms or '', member, message id, head state JSON or '',
-- {field, value, ...}}, that lane leased to the caller until ARGV 11.
if redis.call('LINDEX', KEYS[2], 0) ~= ARGV[2] then
  return {'stale'}
end
log_attempt(KEYS[5], KEYS[6], KEYS[12], ARGV[8], ARGV[7], ARGV[10], ARGV[9])
local outcome, member, lease = ARGV[3], ARGV[1], ARGV[11]
local now, interval, tolerance = tonumber(ARGV[5]), tonumber(ARGV[13]), tonumber(ARGV[14])
local free = free_at(KEYS[9], ARGV[9])
if ARGV[15] ~= '' then
  free = hold(KEYS[9], ARGV[9], free, tonumber(ARGV[15]))
end
if lease ~= '' and admit(free, now, interval, tolerance, 1) < 1 then
  lease = ''
end
local next_member, next_msg = nil, nil
if outcome == 'retry' then
  redis.call('HSET', KEYS[3], member, ARGV[6])
  redis.call('ZADD', KEYS[1], ARGV[4], member)
  redis.call('HSETNX', KEYS[4], ARGV[9], ARGV[5])
else
  redis.call('LPOP', KEYS[2])
  redis.call('HDEL', KEYS[3], member)
  next_msg = redis.call('LINDEX', KEYS[2], 0)
  if next_msg and lease ~= '' then
    next_member = member
    redis.call('ZADD', KEYS[1], lease, member)
  elseif next_msg then
    redis.call('ZADD', KEYS[1], ARGV[5], member)
  else
    redis.call('ZREM', KEYS[1], member)
  end
  if outcome == 'delivered' then
    redis.call('HDEL', KEYS[4], ARGV[9])
    recovered(KEYS[10], KEYS[11], KEYS[7], ARGV[9], ARGV[8], ARGV[16])
  else
    redis.call('HSETNX', KEYS[4], ARGV[9], ARGV[5])
  end
end
if lease ~= '' and not next_member then -- the head of the endpoint's next due lane
  for _, candidate in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[5], 'LIMIT', 0, 4)) do
    next_msg = redis.call('LINDEX', ARGV[12] .. candidate, 0)
    if next_msg then
      next_member = candidate
      redis.call('ZADD', KEYS[1], 'XX', lease, candidate)
      break
    end
    redis.call('ZREM', KEYS[1], candidate) -- an empty lane is forgotten
    redis.call('HDEL', KEYS[3], candidate)
  end
end
if next_member then
  free = take(KEYS[9], ARGV[9], free, now, interval, tolerance, 1)
end
reindex(KEYS[8], KEYS[1], ARGV[9], free)
local failing = redis.call('HGET', KEYS[4], ARGV[9]) or ''
if not next_member then
  return {'ok', failing}
end
local fields = {}
local entry = redis.call('XRANGE', KEYS[7], next_msg, next_msg)
if entry[1] then
  fields = entry[1][2]
end
return {'more', failing, next_member, next_msg, redis.call('HGET', KEYS[3], next_member) or '', fields}
