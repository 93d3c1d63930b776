-- Claims up to N held comments, oldest first, under a lease; first returns expired leases to the queue.
-- KEYS[1] pending zset, KEYS[2] claims zset, KEYS[3] counters hash.
-- ARGV[1] max items, ARGV[2] lease ms, ARGV[3] moderator, ARGV[4] comment key prefix, ARGV[5] history key prefix,
-- ARGV[6..5+max] one fresh lease token per item, ARGV[6+max] how many held comments past `max` to look through.
-- Returns {expired lease count, {id, token, lease_until, data, status, {history...}}, ...}; the history starts with
-- the automatic decision kept in the comment hash (e0), then the list's events.
local now = now_ms()
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)
local n_expired = 0
for _, id in ipairs(expired) do
  redis.call('ZREM', KEYS[2], id)
  local ck = ARGV[4] .. id
  if redis.call('HGET', ck, 'status') == 'PENDING_REVIEW' then
    redis.call('ZADD', KEYS[1], tonumber(redis.call('HGET', ck, 'queued_ms')), id)
    redis.call('HDEL', ck, 'lease_token', 'lease_until', 'claimed_by')
    n_expired = n_expired + 1
  end
end
if n_expired > 0 then
  redis.call('HINCRBY', KEYS[3], 'lease_expiries', n_expired)
end
local max = tonumber(ARGV[1])
if max < 1 then
  -- ZRANGE 0 -1 would be the whole queue, with no token for any of it.
  return {n_expired, {}}
end
local lease_until = now + tonumber(ARGV[2])
local out = {}
-- Oldest first, passing over appeals against this moderator within a window past `max` (they stay queued for
-- the others).
local ids = redis.call('ZRANGE', KEYS[1], 0, max + tonumber(ARGV[6 + max]) - 1)
local taken = 0
for _, id in ipairs(ids) do
  if taken >= max then break end
  local ck = ARGV[4] .. id
  local d = redis.call('HMGET', ck, 'data', 'appeal_of')
  local data = d[1]
  if d[2] ~= ARGV[3] then
    taken = taken + 1
    redis.call('ZREM', KEYS[1], id)
  else
    data = nil
  end
  if data then
    local token = ARGV[5 + taken]
    redis.call('ZADD', KEYS[2], lease_until, id)
    redis.call('HSET', ck, 'lease_token', token, 'lease_until', lease_until, 'claimed_by', ARGV[3])
    local f = redis.call('HMGET', ck, 'status', 'e0', 'campaign')
    local hist = redis.call('LRANGE', ARGV[5] .. id, 0, -1)
    if f[2] then table.insert(hist, 1, f[2]) end
    table.insert(out, {id, token, lease_until, data, f[1], hist, f[3] or ''})
  end
end
return {n_expired, out}
