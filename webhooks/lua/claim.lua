-- Claim due delivery lanes of some endpoints, each up to that endpoint's room: a claimed lane's
-- due time moves to the lease's end, so no other worker takes it while this one delivers its
-- head; a worker that dies lets the lease run out. Lanes of an endpoint that has no room are not
-- looked at (they stay due, in their endpoint's own set, hiding nothing of the others).
-- KEYS: 1 ready set, 2 heads hash, 3 changes stream, 4.. the due sets of the endpoints asked for
-- ARGV: 1 now (ms), 2 lease end (ms), 3 lane key prefix, then per due set: endpoint id, room.
-- Lane lists are named from their due member (prefix .. member): the tenant's keys, one slot.
-- Returns one {member, message id, head state JSON or '', {field, value, ...}} per claimed lane
-- (no fields when the feed entry was trimmed).
local out = {}
for i = 4, #KEYS do
  local due, endpoint, room = KEYS[i], ARGV[2 * i - 4], tonumber(ARGV[2 * i - 3])
  local members = redis.call('ZRANGEBYSCORE', due, '-inf', ARGV[1], 'LIMIT', 0, room)
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
    else -- an empty lane is forgotten
      redis.call('ZREM', due, member)
      redis.call('HDEL', KEYS[2], member)
    end
  end
  reindex(KEYS[1], due, endpoint)
end
return out
