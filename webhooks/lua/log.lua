-- Shared by the scripts that record attempts (loaded in front of each; see `webhooks.queue.script`).

-- Append an attempt's log entry to its endpoint's log and, when it has an order, a reference to
-- it (the endpoint's id and the entry's id) to the order's log (`order_log` ~= `log`), which
-- lives `ttl` seconds from its last entry; entries older than `keep` (a stream id) are trimmed.
-- The order's log holds no copy: an entry is stored once, and goes with its endpoint's log.
local function log_attempt(log, order_log, keep, entry, ttl, endpoint)
  local id = redis.call('XADD', log, 'MINID', '~', keep, '*', 'doc', entry)
  if order_log ~= log then
    redis.call('XADD', order_log, 'MINID', '~', keep, '*', 'endpoint', endpoint, 'at', id)
    redis.call('EXPIRE', order_log, tonumber(ttl))
  end
end
