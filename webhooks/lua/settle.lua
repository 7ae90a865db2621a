-- Record deliveries sent straight from the feed that reached their receivers, and acknowledge
-- the feed entries none of whose deliveries is left unsettled (`webhooks.direct`).
-- KEYS: 1 changes stream, 2 failing hash, then per delivery: its endpoint's log, its order's log
--       (the endpoint's log again when the event has no order)
-- ARGV: 1 consumer group, 2 oldest log id to keep, 3 order log lifetime (s), 4 n ids to
--       acknowledge, 5..4+n those ids, then per delivery: endpoint id, log entry JSON.
-- Returns how many deliveries were recorded.
local n = tonumber(ARGV[4])
local at = 5 + n
local deliveries = (#KEYS - 2) / 2
local endpoints, seen = {}, {}
for i = 1, deliveries do
  log_attempt(KEYS[1 + 2 * i], KEYS[2 + 2 * i], ARGV[2], ARGV[at + 1], ARGV[3])
  if not seen[ARGV[at]] then
    seen[ARGV[at]] = true
    endpoints[#endpoints + 1] = ARGV[at]
  end
  at = at + 2
end
if #endpoints > 0 then  -- they reached their receivers: none of them is failing now
  redis.call('HDEL', KEYS[2], unpack(endpoints))
end
if n > 0 then
  redis.call('XACK', KEYS[1], ARGV[1], unpack(ARGV, 5, 4 + n))
end
return deliveries
