-- The fan-out of one tenant's feed has one owner at a time (a lease), so the changes of an order
-- are queued in feed order even with many workers.
-- KEYS: 1 lock. ARGV: 1 owner, 2 lease (ms), 3 'release' to give the lock up.
-- Returns 2 when the caller just became the owner, 1 when it already was (lease renewed), 0 when
-- another worker owns it.
local owner = redis.call('GET', KEYS[1])
if ARGV[3] == 'release' then
  if owner == ARGV[1] then
    redis.call('DEL', KEYS[1])
  end
  return 0
end
if owner == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if owner then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 2
