-- An endpoint's delivery reached its receiver: when its failure streak was announced
-- (`endpoint.failing`, see warn.lua), end it with an `endpoint.recovered` event on the tenant's
-- feed (delivered to the endpoints that subscribe to it, like any event).
-- warned: the warned hash; endpoints: the endpoints hash; feed: the changes stream; keep: the
-- oldest feed id to keep; stamp: now, as the API writes times.
local function recovered(warned, endpoints, feed, endpoint, keep, stamp)
  local since = redis.call('HGET', warned, endpoint)
  if not since then
    return
  end
  redis.call('HDEL', warned, endpoint)
  local url = cjson.null
  local doc = redis.call('HGET', endpoints, endpoint)
  if doc then
    url = cjson.decode(doc)['url']
  end
  local data = cjson.encode({
    endpoint_id = endpoint, url = url, failing_since = since, recovered_at = stamp
  })
  redis.call('XADD', feed, 'MINID', '~', keep, '*',
    'type', 'endpoint.recovered', 'timestamp', stamp, 'data', data)
end
