-- Record deliveries sent straight from the feed that reached their receivers, and acknowledge
-- the feed entries none of whose deliveries is left unsettled (`webhooks.direct`).
-- KEYS: 1 changes stream, 2 failing hash, 3 warned hash, 4 endpoints hash, then per delivery:
--       its endpoint's log, its order's log and that log as a stream (written before; the
--       endpoint's log twice when the event has no order)
-- ARGV: 1 consumer group, 2 oldest log id to keep, 3 order log lifetime (s), 4 now as the API
--       writes times, or '' when the deliveries did not reach their receivers (a 410 Gone: the
--       endpoints' failure streaks are left alone), 5 n ids to acknowledge, 6..5+n those ids,
--       then per delivery: endpoint id, log entry JSON.
-- Returns how many deliveries were recorded.
local n = tonumber(ARGV[5])
local at = 6 + n
local deliveries = (#KEYS - 4) / 3
local endpoints, seen = {}, {}
for i = 1, deliveries do
  local k = 2 + 3 * i
  log_attempt(KEYS[k], KEYS[k + 1], KEYS[k + 2], ARGV[2], ARGV[at + 1], ARGV[3], ARGV[at])
  if not seen[ARGV[at]] then
    seen[ARGV[at]] = true
    endpoints[#endpoints + 1] = ARGV[at]
  end
  at = at + 2
end
if #endpoints > 0 and ARGV[4] ~= '' then  -- they reached their receivers: none is failing now
  redis.call('HDEL', KEYS[2], unpack(endpoints))
  if redis.call('EXISTS', KEYS[3]) == 1 then
    for _, endpoint in ipairs(endpoints) do
      recovered(KEYS[3], KEYS[4], KEYS[1], endpoint, ARGV[2], ARGV[4])
    end
  end
end
if n > 0 then
  redis.call('XACK', KEYS[1], ARGV[1], unpack(ARGV, 6, 5 + n))
end
return deliveries
