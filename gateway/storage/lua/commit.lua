-- Commit observations of orders of one tenant, each atomically and one after the other, in one
-- run (all keys share the tenant's hash tag).
-- KEYS: 1 orders index, 2 changes stream, 3 unmapped counts, 4 unmapped details, then per
--       commit: its order hash, timeline list, seen set, the order's change ids.
-- ARGV: 1 the oldest stream id to keep (entries older than the history are trimmed), 2 the
--       channel that announces new changes, 3 the tenant (published on it once when any commit
--       of the run added a change to the feed: `webhooks.worker` reads the feed then), then per
--       commit: its number of arguments, then them: expected rev, new rev, state doc, timeline
--       entry, index score, index member, number of dedupe keys k, k dedupe keys, changed (0/1),
--       number of unknown codes m, m pairs (unmapped field, details JSON), then the change's
--       stream fields as name, value pairs.
-- Returns two values per commit, in order: "dup", doc when a dedupe key was seen; "conflict",
-- doc when the rev moved on (the stored state, so the caller decides again without another
-- read); "ok", stream id or "" when stored.
local keep = ARGV[1]

local function commit(order, timeline, seen, changes_of_order, a)
  local k = tonumber(ARGV[a + 6])
  if k > 0 then
    for _, found in ipairs(redis.call('SMISMEMBER', seen, unpack(ARGV, a + 7, a + 6 + k))) do
      if found == 1 then
        return 'dup', redis.call('HGET', order, 'doc') or ''
      end
    end
  end
  local rev = redis.call('HGET', order, 'rev') or '0'
  if rev ~= ARGV[a] then
    return 'conflict', redis.call('HGET', order, 'doc') or ''
  end
  redis.call('HSET', order, 'rev', ARGV[a + 1], 'doc', ARGV[a + 2])
  redis.call('RPUSH', timeline, ARGV[a + 3])
  if k > 0 then
    redis.call('SADD', seen, unpack(ARGV, a + 7, a + 6 + k))
  end
  redis.call('ZADD', KEYS[1], ARGV[a + 4], ARGV[a + 5])
  local at = a + 7 + k
  local changed, m = ARGV[at], tonumber(ARGV[at + 1])
  for i = at + 2, at + 2 * m, 2 do
    local unmapped, details = ARGV[i], ARGV[i + 1]
    redis.call('HINCRBY', KEYS[3], unmapped, 1)
    local first = redis.call('HGET', KEYS[4], unmapped)
    if first then
      local new = cjson.decode(details)
      new['first_seen'] = cjson.decode(first)['first_seen']
      details = cjson.encode(new)
    end
    redis.call('HSET', KEYS[4], unmapped, details)
  end
  return 'ok', changed, at + 2 + 2 * m
end

local out = {}
local added = false
local a = 4
for c = 5, #KEYS, 4 do
  local n = tonumber(ARGV[a])
  local first = a + 1
  local result, value, fields_at = commit(KEYS[c], KEYS[c + 1], KEYS[c + 2], KEYS[c + 3], first)
  if result == 'ok' then
    local id = ''
    if value == '1' then
      id = redis.call('XADD', KEYS[2], 'MINID', '~', keep, '*', unpack(ARGV, fields_at, first + n - 1))
      redis.call('RPUSH', KEYS[c + 3], id)
      added = true
    end
    value = id
  end
  out[#out + 1] = result
  out[#out + 1] = value
  a = first + n
end
if added then
  redis.call('PUBLISH', ARGV[2], ARGV[3])
end
return out
