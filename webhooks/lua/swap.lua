-- Replace one endpoint's JSON only if it is still exactly what the caller read (compare and set),
-- so concurrent changes (a PATCH, a rotation, the worker disabling it) never undo each other and a
-- deleted endpoint is never written back.
-- KEYS: 1 endpoints hash. ARGV: 1 endpoint id, 2 the JSON read, 3 the new JSON.
-- Returns 1 when replaced, 0 when it changed meanwhile (read it again), -1 when it is gone.
local now = redis.call('HGET', KEYS[1], ARGV[1])
if not now then
  return -1
end
if now ~= ARGV[2] then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1
