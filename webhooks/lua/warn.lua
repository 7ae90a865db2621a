-- Announce an endpoint's failure streak once (`endpoint.failing` on the tenant's feed), while it
-- is still the streak the caller saw: a success since ended it, and a later streak starts at
-- another time and is announced again.
-- KEYS: 1 failing hash, 2 warned hash, 3 changes stream
-- ARGV: 1 endpoint id, 2 ms of the streak's first failure (as the failing hash holds it), 3 that
--       time as the API writes times, 4 oldest feed id to keep, 5 now (the event's timestamp),
--       6 the event's data JSON
-- Returns 1 when announced now, 0 otherwise.
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then
  return 0
end
if redis.call('HGET', KEYS[2], ARGV[1]) == ARGV[3] then
  return 0
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
redis.call('XADD', KEYS[3], 'MINID', '~', ARGV[4], '*',
  'type', 'endpoint.failing', 'timestamp', ARGV[5], 'data', ARGV[6])
return 1
