-- Extends (ARGV[3] = 'extend') or releases (ARGV[3] = 'release') a lease the caller holds.
-- KEYS[1] comment hash, KEYS[2] pending zset, KEYS[3] claims zset.
-- ARGV[1] comment id, ARGV[2] lease token, ARGV[3] action, ARGV[4] lease ms.
-- Returns {1, lease_until} on success, {0} when the lease is lost (expired, taken over, or decided).
local now = now_ms()
local f = redis.call('HMGET', KEYS[1], 'status', 'lease_token', 'lease_until', 'queued_ms')
if f[1] ~= 'PENDING_REVIEW' or f[2] ~= ARGV[2] or tonumber(f[3] or 0) <= now then
  return {0}
end
if ARGV[3] == 'extend' then
  local lease_until = now + tonumber(ARGV[4])
  redis.call('HSET', KEYS[1], 'lease_until', lease_until)
  redis.call('ZADD', KEYS[3], lease_until, ARGV[1])
  return {1, lease_until}
end
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('HDEL', KEYS[1], 'lease_token', 'lease_until', 'claimed_by')
redis.call('ZADD', KEYS[2], tonumber(f[4]), ARGV[1])
return {1, 0}
