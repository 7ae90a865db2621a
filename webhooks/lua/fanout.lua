-- Fan change-feed entries out to delivery lanes and acknowledge them, in one step (a worker that
-- dies before this runs leaves the entries pending for another; after it, nothing is repeated).
-- KEYS: 1 changes stream, 2 due set, 3.. one lane list per delivery
-- ARGV: 1 consumer group ('' to acknowledge nothing: a replay), 2 now (ms), 3 n ids to acknowledge,
--       4..3+n those ids, then one message id per lane key (KEYS[3..]), then one due member per
--       lane key.
local n = tonumber(ARGV[3])
local lanes = #KEYS - 2
local first_msg = 4 + n
local first_member = first_msg + lanes
for i = 1, lanes do
  redis.call('RPUSH', KEYS[2 + i], ARGV[first_msg + i - 1])
  -- a lane already waiting (or backing off) keeps its time: its head goes first
  redis.call('ZADD', KEYS[2], 'NX', ARGV[2], ARGV[first_member + i - 1])
end
if n > 0 and ARGV[1] ~= '' then
  redis.call('XACK', KEYS[1], ARGV[1], unpack(ARGV, 4, 3 + n))
end
return lanes
