-- Fan change-feed entries out to delivery lanes and acknowledge them, in one step (a worker that
-- dies before this runs leaves the entries pending for another; after it, nothing is repeated).
-- KEYS: 1 changes stream, 2 ready set, then per delivery: its lane list, its endpoint's due set
-- ARGV: 1 consumer group ('' to acknowledge nothing: a replay), 2 now (ms), 3 n ids to acknowledge,
--       4..3+n those ids, then per delivery: message id, due member, endpoint id.
local n = tonumber(ARGV[3])
local deliveries = (#KEYS - 2) / 2
local at = 4 + n
for i = 1, deliveries do
  local lane, due = KEYS[1 + 2 * i], KEYS[2 + 2 * i]
  redis.call('RPUSH', lane, ARGV[at])
  -- a lane already waiting (or backing off) keeps its time: its head goes first
  if redis.call('ZADD', due, 'NX', ARGV[2], ARGV[at + 1]) == 1 then
    redis.call('ZADD', KEYS[2], 'LT', ARGV[2], ARGV[at + 2])
  end
  at = at + 3
end
if n > 0 and ARGV[1] ~= '' then
  redis.call('XACK', KEYS[1], ARGV[1], unpack(ARGV, 4, 3 + n))
end
return deliveries
