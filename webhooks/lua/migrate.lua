-- Move a tenant's lanes from the one due set of earlier versions into one due set per endpoint
-- (and the ready set that indexes them); nothing to do when the old set is gone.
-- KEYS: 1 the old due set, 2 ready set. ARGV: 1 due-set key prefix (prefix .. endpoint id).
-- Due sets are named from the endpoint id: the tenant's keys, one slot. Returns lanes moved.
local old = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
for i = 1, #old, 2 do
  local member, due = old[i], old[i + 1]
  local endpoint = string.match(member, '^([^\31]*)')
  redis.call('ZADD', ARGV[1] .. endpoint, due, member)
  redis.call('ZADD', KEYS[2], 'LT', due, endpoint)
end
redis.call('DEL', KEYS[1])
return #old / 2
