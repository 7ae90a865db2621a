-- The message at a lane's head, its attempts so far, and its change-feed entry, in one step.
-- KEYS: 1 lane list, 2 heads hash, 3 changes stream, 4 due set. ARGV: 1 due member.
-- Returns {} for an empty lane (which is then forgotten), else {msg, head state JSON or '',
-- field, value, ...} (no fields when the entry was trimmed from the feed).
local msg = redis.call('LINDEX', KEYS[1], 0)
if not msg then
  redis.call('ZREM', KEYS[4], ARGV[1])
  return {}
end
local out = {msg, redis.call('HGET', KEYS[2], ARGV[1]) or ''}
local entry = redis.call('XRANGE', KEYS[3], msg, msg)
if entry[1] then
  for _, value in ipairs(entry[1][2]) do
    out[#out + 1] = value
  end
end
return out
