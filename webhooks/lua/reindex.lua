-- Make the ready set agree with the endpoints' due sets again: each endpoint scored with its
-- earliest lane, absent when it has none. Every script that moves a lane keeps them in step; this
-- repairs what a script stopped midway (Redis does not roll back a script that fails, e.g. out of
-- memory, after its first write) would otherwise leave: lanes that are never claimed.
-- KEYS: 1 ready set, 2 holds hash, 3.. the due sets of the endpoints. ARGV: their endpoint ids,
-- in that order.
-- Returns how many endpoints' entries were wrong.
local fixed = 0
for i = 3, #KEYS do
  local endpoint = ARGV[i - 2]
  local before = redis.call('ZSCORE', KEYS[1], endpoint)
  reindex(KEYS[1], KEYS[i], endpoint, free_at(KEYS[2], endpoint))
  if tonumber(before) ~= tonumber(redis.call('ZSCORE', KEYS[1], endpoint)) then
    fixed = fixed + 1
  end
end
return fixed
