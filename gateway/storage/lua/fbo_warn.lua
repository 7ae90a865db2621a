-- Emit one FBO deadline warning at most once, whatever the number of workers and restarts.
-- KEYS: 1 due set, 2 shipment hash, 3 changes stream
-- ARGV: 1 due member, 2 done field (done:<step>), 3 warned field (warned:<step>:<kind>), 4 now
--       (ISO), 5 oldest feed id to keep, 6 emit (1) or only forget (0), then the event's feed
--       fields as name, value pairs.
-- Returns 1 when the warning was added to the feed, 0 otherwise.
redis.call('ZREM', KEYS[1], ARGV[1])
if ARGV[6] ~= '1' or redis.call('EXISTS', KEYS[2]) == 0 then
  return 0
end
if redis.call('HEXISTS', KEYS[2], ARGV[2]) == 1 then
  return 0
end
if redis.call('HSETNX', KEYS[2], ARGV[3], ARGV[4]) == 0 then
  return 0
end
redis.call('XADD', KEYS[3], 'MINID', '~', ARGV[5], '*', unpack(ARGV, 7, #ARGV))
return 1
