-- Sets a site's webhook if its version is still the caller's; the first time, delivery starts after the newest
-- event already in the decision stream.
-- KEYS[1] webhook hash, KEYS[2] delivery state hash, KEYS[3] decision stream.
-- ARGV[1] expected version (0: never set), ARGV[2] url, ARGV[3] secret, ARGV[4] previous secret,
-- ARGV[5] previous secret signs until (ms).
-- Returns {1, new version} or {0, current version}.
local cur = tonumber(redis.call('HGET', KEYS[1], 'v') or 0)
if cur ~= tonumber(ARGV[1]) then
  return {0, cur}
end
if redis.call('HEXISTS', KEYS[2], 'cursor') == 0 then
  local last = redis.call('XREVRANGE', KEYS[3], '+', '-', 'COUNT', 1)
  local c = ''
  if #last > 0 then c = last[1][1] end
  redis.call('HSET', KEYS[2], 'cursor', c, 'attempts', 0)
end
local nv = cur + 1
redis.call('HSET', KEYS[1], 'v', nv, 'url', ARGV[2], 'secret', ARGV[3], 'prev', ARGV[4], 'prev_until', ARGV[5])
return {1, nv}
