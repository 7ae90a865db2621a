-- Fan change-feed entries out to delivery lanes and acknowledge them, in one step (a worker that
-- dies before this runs leaves the entries pending for another; after it, nothing is repeated).
-- A delivery offered for direct sending ('d') is left to the caller instead when nothing waits
-- in its lane, its endpoint is not failing and no Retry-After holds it: the caller sends it
-- straight from the feed (`webhooks.direct`), and its entry stays pending until then.
-- KEYS: 1 changes stream, 2 ready set, 3 failing hash, 4 holds hash, then per delivery: its lane
--       list, its endpoint's due set
-- ARGV: 1 consumer group ('' to acknowledge nothing: a replay), 2 now (ms), 3 n entries,
--       4..3+n their ids, then per delivery: the number of its entry (1..n, or 0 for none),
--       message id, due member, endpoint id, 'd' (may go direct) or 'q' (queue it).
-- Entries with no delivery left to the caller are acknowledged.
-- Returns the numbers (1..) of the deliveries left to the caller, in the order given.
local n = tonumber(ARGV[3])
local now = tonumber(ARGV[2])
local deliveries = (#KEYS - 4) / 2
local direct, kept, ready = {}, {}, {}
local at = 4 + n
for i = 1, deliveries do
  local lane, due = KEYS[3 + 2 * i], KEYS[4 + 2 * i]
  local entry, endpoint = tonumber(ARGV[at]), ARGV[at + 3]
  if ARGV[at + 4] == 'd' and ready[endpoint] == nil then
    ready[endpoint] = redis.call('HEXISTS', KEYS[3], endpoint) == 0
      and free_at(KEYS[4], endpoint) <= now
  end
  if ARGV[at + 4] == 'd' and ready[endpoint] and redis.call('EXISTS', lane) == 0 then
    direct[#direct + 1] = i
    kept[entry] = true
  else
    redis.call('RPUSH', lane, ARGV[at + 1])
    -- a lane already waiting (or backing off) keeps its time: its head goes first
    if redis.call('ZADD', due, 'NX', now, ARGV[at + 2]) == 1 then
      redis.call('ZADD', KEYS[2], 'LT', now, endpoint)
    end
  end
  at = at + 5
end
if n > 0 and ARGV[1] ~= '' then
  local done = {}
  for i = 1, n do
    if not kept[i] then
      done[#done + 1] = ARGV[3 + i]
    end
  end
  if #done > 0 then
    redis.call('XACK', KEYS[1], ARGV[1], unpack(done))
  end
end
return direct
