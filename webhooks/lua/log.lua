-- Shared by the scripts that record attempts (loaded in front of each; see `webhooks.queue.script`).

-- Append an attempt's log entry to its endpoint's log and, when it has an order, to the order's
-- log (`order_log` ~= `log`), which lives `ttl` seconds from its last entry; entries older than
-- `keep` (a stream id) are trimmed.
local function log_attempt(log, order_log, keep, entry, ttl)
  redis.call('XADD', log, 'MINID', '~', keep, '*', 'doc', entry)
  if order_log ~= log then
    redis.call('XADD', order_log, 'MINID', '~', keep, '*', 'doc', entry)
    redis.call('EXPIRE', order_log, tonumber(ttl))
  end
end
