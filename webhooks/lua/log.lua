-- Shared by the scripts that record attempts (loaded in front of each; see `webhooks.queue.script`).

-- The time (ms) a stream id starts with, and so an order log's member.
local function ms_of(id)
  return tonumber(string.match(id, '^(%d+)'))
end

-- Move an order's log as written before (a stream of copies, `doc`: 4 KB even when small) into
-- its sorted set, oldest first, scored on from `n`, each copy as `<its id> <JSON>`. Returns the
-- last score given (`n` when the stream held nothing).
local function move_order_log(stream, order_log, n)
  for _, e in ipairs(redis.call('XRANGE', stream, '-', '+')) do
    n = n + 1
    redis.call('ZADD', order_log, n, e[1] .. ' ' .. e[2][2])  -- its one field: doc
  end
  redis.call('DEL', stream)
  return n
end

-- Append an attempt's log entry to its endpoint's log and, when it has an order, a reference to
-- it to the order's log (`order_log` ~= `log`): a sorted set of `<entry id> <endpoint id>`
-- scored 1, 2, … in order, which lives `ttl` seconds from its last entry (`stream`: the order's
-- log as written before, moved into it by its first new entry). Entries older than `keep` (a
-- stream id) are trimmed: the endpoint's at once, the order's every 16th entry (it is short, and
-- reading skips them).
local function log_attempt(log, order_log, stream, keep, entry, ttl, endpoint)
  local id = redis.call('XADD', log, 'MINID', '~', keep, '*', 'doc', entry)
  if order_log == log then
    return
  end
  local last = redis.call('ZRANGE', order_log, -1, -1, 'WITHSCORES')[2]
  local n
  if last then
    n = tonumber(last) + 1
  else
    n = move_order_log(stream, order_log, 0) + 1
  end
  redis.call('ZADD', order_log, n, id .. ' ' .. endpoint)
  if n % 16 == 0 then
    local keep_ms = ms_of(keep)
    local first = redis.call('ZRANGE', order_log, 0, 0)[1]
    while first and ms_of(first) < keep_ms do
      redis.call('ZPOPMIN', order_log)
      first = redis.call('ZRANGE', order_log, 0, 0)[1]
    end
  end
  redis.call('EXPIRE', order_log, tonumber(ttl))
end
