-- Replaces a versioned document if the caller's expected version still matches, and appends an audit entry.
-- KEYS[1] document hash (fields v, doc), KEYS[2] audit stream.
-- ARGV[1] expected version (0 when absent), ARGV[2] new document, ARGV[3] who, ARGV[4] what, ARGV[5] the site
-- concerned, ARGV[6] a one-line summary, ARGV[7] audit maxlen.
-- Returns {1, new version} or {0, current version} when the expected version is stale (nothing changed).
local now = now_ms()
local cur = tonumber(redis.call('HGET', KEYS[1], 'v') or 0)
if cur ~= tonumber(ARGV[1]) then
  return {0, cur}
end
local before = redis.call('HGET', KEYS[1], 'doc') or ''
local nv = cur + 1
redis.call('HSET', KEYS[1], 'v', nv, 'doc', ARGV[2])
audit_add(KEYS[2], ARGV[7], now, ARGV[3], ARGV[4], {site = ARGV[5], before = before, after = ARGV[2],
  detail = ARGV[6]})
return {1, nv}
