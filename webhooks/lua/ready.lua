-- Shared by the scripts that move lanes (loaded in front of each; see `webhooks.queue.script`):
-- score an endpoint in the ready set with the earliest lane of its due set, or drop it there.
local function reindex(ready, due, endpoint)
  local first = redis.call('ZRANGE', due, 0, 0, 'WITHSCORES')
  if first[1] then
    redis.call('ZADD', ready, first[2], endpoint)
  else
    redis.call('ZREM', ready, endpoint)
  end
end
