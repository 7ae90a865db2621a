-- Shared by the scripts that move lanes (loaded in front of each; see `webhooks.queue.script`).

-- The earliest time (ms) the endpoint may start its next attempt (`webhooks.pace`); 0: any time.
local function free_at(holds, endpoint)
  return tonumber(redis.call('HGET', holds, endpoint) or '0')
end

-- Score an endpoint in the ready set with the earliest lane of its due set, or with `free` (its
-- free_at) when that is later; drop it there when it has no lane.
local function reindex(ready, due, endpoint, free)
  local first = redis.call('ZRANGE', due, 0, 0, 'WITHSCORES')
  if first[1] then
    redis.call('ZADD', ready, math.max(tonumber(first[2]), free), endpoint)
  else
    redis.call('ZREM', ready, endpoint)
  end
end

-- How many of `wanted` attempts an endpoint free at `free` may start at `now` (ms) at its pace
-- (interval and tolerance in ms; interval 0: no limit).
local function admit(free, now, interval, tolerance, wanted)
  if free > now then
    return 0
  end
  if interval <= 0 then
    return wanted
  end
  -- the generic cell rate algorithm: free + tolerance is when the next attempt is due
  local due = math.max(free + tolerance, now)
  return math.min(wanted, math.floor((now + tolerance - due) / interval) + 1)
end

-- Count `n` attempts started at `now` against the endpoint's pace; its new free_at.
local function take(holds, endpoint, free, now, interval, tolerance, n)
  if interval <= 0 or n <= 0 then
    return free
  end
  local due = math.max(free + tolerance, now) + n * interval
  redis.call('HSET', holds, endpoint, string.format('%.3f', due - tolerance))
  return due - tolerance
end

-- The receiver asked to be left alone: no attempt of the endpoint starts before `until_ms`; its
-- new free_at.
local function hold(holds, endpoint, free, until_ms)
  if until_ms <= free then
    return free
  end
  redis.call('HSET', holds, endpoint, until_ms)
  return until_ms
end
