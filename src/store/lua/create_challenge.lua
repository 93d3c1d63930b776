-- Stores a captcha challenge if the client's creation limit (GCRA) and live-challenge bound allow it.
-- KEYS[1] challenge key, KEYS[2] the client's live-challenge sorted set, KEYS[3] the client's GCRA state.
-- ARGV[1] challenge id, ARGV[2] answer hash (hex), ARGV[3] ttl ms, ARGV[4] max live challenges,
-- ARGV[5] emission interval ms, ARGV[6] burst tolerance ms, ARGV[7] how long to remember an expired challenge ms.
-- Returns {1, expires_at_ms} | {0, retry_after_ms} (rate limited) | {-1, retry_after_ms} (too many live).
local now = now_ms()
local ttl = tonumber(ARGV[3])
local tat, wait = gcra(KEYS[3], tonumber(ARGV[5]), tonumber(ARGV[6]), now)
if not tat then
  return {0, wait}
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[4]) then
  local oldest = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
  return {-1, math.max(1, tonumber(oldest[2]) - now)}
end
gcra_store(KEYS[3], tat, now)
local expires = now + ttl
redis.call('ZADD', KEYS[2], expires, ARGV[1])
redis.call('PEXPIRE', KEYS[2], ttl)
redis.call('SET', KEYS[1], string.format('%d', expires) .. ':' .. ARGV[2], 'PX', ttl + tonumber(ARGV[7]))
return {1, expires}
