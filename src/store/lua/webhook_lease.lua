-- Takes or renews a site's delivery lease, or releases it.
-- KEYS[1] delivery state hash. ARGV[1] owner, ARGV[2] lease ms (0: release if held by the owner).
-- Returns 1 when the owner holds the lease now, else 0.
local now = now_ms()
local f = redis.call('HMGET', KEYS[1], 'owner', 'until')
local mine = f[1] == ARGV[1]
if tonumber(ARGV[2]) == 0 then
  if mine then redis.call('HSET', KEYS[1], 'owner', '', 'until', 0) end
  return 0
end
if mine or (not f[1]) or f[1] == '' or tonumber(f[2] or 0) <= now then
  redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'until', now + tonumber(ARGV[2]))
  return 1
end
return 0
