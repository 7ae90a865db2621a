-- Claim due delivery lanes of some endpoints, each up to that endpoint's room and what its pace
-- allows now: a claimed lane's due time moves to the lease's end, so no other worker takes it
-- while this one delivers its head; a worker that dies lets the lease run out. Lanes of an
-- endpoint that has no room are not looked at (they stay due, in their endpoint's own set, hiding
-- nothing of the others).
-- KEYS: 1 ready set, 2 heads hash, 3 changes stream, 4 holds hash, 5.. the due sets of the
--       endpoints asked for
-- ARGV: 1 now (ms), 2 lease end (ms), 3 lane key prefix, then per due set: endpoint id, room,
--       pace interval (ms), pace tolerance (ms).
-- Lane lists are named from their due member (prefix .. member): the tenant's keys, one slot.
-- Returns one {member, message id, head state JSON or '', {field, value, ...}} per claimed lane
-- (no fields when the feed entry was trimmed).
local out = {}
local now = tonumber(ARGV[1])
for i = 5, #KEYS do
  local due, at = KEYS[i], 4 * (i - 5) + 4
  local endpoint, interval, tolerance = ARGV[at], tonumber(ARGV[at + 2]), tonumber(ARGV[at + 3])
  local free = free_at(KEYS[4], endpoint)
  local room = admit(free, now, interval, tolerance, tonumber(ARGV[at + 1]))
  local taken = 0
  if room > 0 then
    local members = redis.call('ZRANGEBYSCORE', due, '-inf', now, 'LIMIT', 0, room)
    for _, member in ipairs(members) do
      local msg = redis.call('LINDEX', ARGV[3] .. member, 0)
      if msg then
        redis.call('ZADD', due, 'XX', ARGV[2], member)
        local fields = {}
        local entry = redis.call('XRANGE', KEYS[3], msg, msg)
        if entry[1] then
          fields = entry[1][2]
        end
        out[#out + 1] = {member, msg, redis.call('HGET', KEYS[2], member) or '', fields}
        taken = taken + 1
      else -- an empty lane is forgotten
        redis.call('ZREM', due, member)
        redis.call('HDEL', KEYS[2], member)
      end
    end
  end
  free = take(KEYS[4], endpoint, free, now, interval, tolerance, taken)
  reindex(KEYS[1], due, endpoint, free)
end
return out
