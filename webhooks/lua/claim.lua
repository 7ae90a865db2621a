-- Claim due delivery lanes: each claimed lane is pushed to the lease's end, so no other worker
-- takes it while this one delivers its head; a worker that dies lets the lease run out.
-- An endpoint with no room left in this worker (its in-flight cap) is not claimed: its due lanes
-- are looked at again a moment later, so they do not hide the other endpoints' lanes.
-- KEYS: 1 due set.
-- ARGV: 1 now (ms), 2 lease end (ms), 3 most lanes to claim, 4 room of an endpoint not listed,
--       5 when to look again at a lane of a full endpoint (ms), then (endpoint id, room) pairs.
local room = {}
for i = 6, #ARGV, 2 do
  room[ARGV[i]] = tonumber(ARGV[i + 1])
end
local most, default = tonumber(ARGV[3]), tonumber(ARGV[4])
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, math.min(most * 4, 2000))
local claimed = {}
for _, member in ipairs(due) do
  if #claimed >= most then
    break
  end
  local endpoint = string.match(member, '^([^\31]*)')
  local left = room[endpoint] or default
  if left > 0 then
    room[endpoint] = left - 1
    redis.call('ZADD', KEYS[1], 'XX', ARGV[2], member)
    claimed[#claimed + 1] = member
  else
    redis.call('ZADD', KEYS[1], 'XX', ARGV[5], member)
  end
end
return claimed
