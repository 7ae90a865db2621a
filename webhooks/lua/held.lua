-- One worker's report of what it holds to send straight from the change feed, per endpoint of
-- one tenant (`DeliveryQueue.report_held`; `pending` adds it up): its fields are set, those
-- with nothing held are dropped, and so is every report past its expiry (a worker that died).
-- KEYS: 1 the tenant's held hash (field `endpoint<US>worker` -> `count expiry_ms`)
-- ARGV: 1 now (ms), 2 this report's expiry (ms), then pairs: field, count (0: drop it)
local now = tonumber(ARGV[1])
local reports = redis.call('HGETALL', KEYS[1])
for i = 1, #reports, 2 do
  local expiry = tonumber(string.match(reports[i + 1], ' (%d+)$'))
  if expiry == nil or expiry <= now then
    redis.call('HDEL', KEYS[1], reports[i])
  end
end
for i = 3, #ARGV, 2 do
  if ARGV[i + 1] == '0' then
    redis.call('HDEL', KEYS[1], ARGV[i])
  else
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1] .. ' ' .. ARGV[2])
  end
end
return 0
