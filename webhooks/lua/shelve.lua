-- Move a chain sent straight from the feed onto its lane after its head's first attempt failed
-- (`webhooks.direct`): the head, with that attempt counted, and the order's later changes the
-- worker held go in front of anything queued there meanwhile (a replay); the lane is due at the
-- retry time; the attempt is logged; the entries no delivery needs any more are acknowledged.
-- KEYS: 1 lane list, 2 heads hash, 3 endpoint's due set, 4 ready set, 5 failing hash, 6 holds
--       hash, 7 endpoint log, 8 order log (may equal 7), 9 changes stream, 10 the order log as a
--       stream (written before; may equal 7)
-- ARGV: 1 due member, 2 endpoint id, 3 head state JSON, 4 next due (ms), 5 now (ms), 6 log entry
--       JSON, 7 oldest log id to keep, 8 order log lifetime (s), 9 no attempt of the endpoint
--       before this (ms, Retry-After) or '', 10 consumer group, 11 n message ids, 12..11+n the
--       chain's ids (head first), then m, and m ids to acknowledge.
local n = tonumber(ARGV[11])
for i = 11 + n, 12, -1 do
  redis.call('LPUSH', KEYS[1], ARGV[i])
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1])
redis.call('HSETNX', KEYS[5], ARGV[2], ARGV[5])
local free = free_at(KEYS[6], ARGV[2])
if ARGV[9] ~= '' then
  free = hold(KEYS[6], ARGV[2], free, tonumber(ARGV[9]))
end
reindex(KEYS[4], KEYS[3], ARGV[2], free)
log_attempt(KEYS[7], KEYS[8], KEYS[10], ARGV[7], ARGV[6], ARGV[8], ARGV[2])
local m = tonumber(ARGV[12 + n])
if m > 0 then
  redis.call('XACK', KEYS[9], ARGV[10], unpack(ARGV, 13 + n, 12 + n + m))
end
return 1
