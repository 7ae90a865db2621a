-- Commit one observation of one order, atomically (all keys share the tenant's hash tag).
-- KEYS: 1 order hash, 2 timeline list, 3 seen set, 4 orders index, 5 changes stream,
--       6 unmapped counts, 7 unmapped details, 8 the order's change ids
-- ARGV: 1 expected rev, 2 new rev, 3 state doc, 4 timeline entry, 5 index score, 6 index member,
--       7 number of dedupe keys k, 8..7+k dedupe keys, then: changed (0/1), the oldest stream
--       id to keep (entries older than the history are trimmed), number of unknown codes m,
--       m pairs (unmapped field, details JSON), then the change's stream fields as name, value
--       pairs.
-- Returns {"dup", doc} when a dedupe key was seen, {"conflict", doc} when the rev moved on (the
-- stored state, so the caller decides again without another read), {"ok", stream id or ""} when
-- stored.
local k = tonumber(ARGV[7])
for i = 8, 7 + k do
  if redis.call('SISMEMBER', KEYS[3], ARGV[i]) == 1 then
    return {'dup', redis.call('HGET', KEYS[1], 'doc') or ''}
  end
end
local rev = redis.call('HGET', KEYS[1], 'rev') or '0'
if rev ~= ARGV[1] then
  return {'conflict', redis.call('HGET', KEYS[1], 'doc') or ''}
end
redis.call('HSET', KEYS[1], 'rev', ARGV[2], 'doc', ARGV[3])
redis.call('RPUSH', KEYS[2], ARGV[4])
for i = 8, 7 + k do
  redis.call('SADD', KEYS[3], ARGV[i])
end
redis.call('ZADD', KEYS[4], ARGV[5], ARGV[6])
local at = 8 + k
local changed, keep, m = ARGV[at], ARGV[at + 1], tonumber(ARGV[at + 2])
for i = at + 3, at + 1 + 2 * m, 2 do
  local unmapped, details = ARGV[i], ARGV[i + 1]
  redis.call('HINCRBY', KEYS[6], unmapped, 1)
  local seen = redis.call('HGET', KEYS[7], unmapped)
  if seen then
    local new = cjson.decode(details)
    new['first_seen'] = cjson.decode(seen)['first_seen']
    details = cjson.encode(new)
  end
  redis.call('HSET', KEYS[7], unmapped, details)
end
local id = ''
if changed == '1' then
  local fields = {}
  for i = at + 3 + 2 * m, #ARGV do
    fields[#fields + 1] = ARGV[i]
  end
  id = redis.call('XADD', KEYS[5], 'MINID', '~', keep, '*', unpack(fields))
  redis.call('RPUSH', KEYS[8], id)
end
return {'ok', id}
