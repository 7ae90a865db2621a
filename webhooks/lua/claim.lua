-- Claim due delivery lanes: each claimed lane is pushed to the lease's end, so no other worker
-- takes it while this one delivers its head; a worker that dies lets the lease run out.
-- KEYS: 1 due set. ARGV: 1 now (ms), 2 lease end (ms), 3 most lanes to claim.
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for _, member in ipairs(due) do
  redis.call('ZADD', KEYS[1], 'XX', ARGV[2], member)
end
return due
