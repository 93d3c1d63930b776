-- Records delivery progress, fenced by the lease holder and the cursor it started from.
-- KEYS[1] delivery state hash, KEYS[2] dead-letter stream.
-- ARGV[1] owner, ARGV[2] expected cursor, ARGV[3] step:
--   'failed':    ARGV[4] deliverer's now ms, ARGV[5] next attempt ms, ARGV[6] error;
--   'delivered': ARGV[4] the delivered event's cursor;
--   'dead':      ARGV[4] its cursor, ARGV[5] event id, ARGV[6] attempts, ARGV[7] failing since ms,
--                ARGV[8] dead ms, ARGV[9] last error, ARGV[10] body, ARGV[11] dead-letter maxlen.
-- Returns 1 when recorded, 0 when fenced out (nothing changed).
local now = now_ms()
local f = redis.call('HMGET', KEYS[1], 'owner', 'until', 'cursor', 'attempts')
if f[1] ~= ARGV[1] or tonumber(f[2] or 0) <= now or (f[3] or '') ~= ARGV[2] then
  return 0
end
local step = ARGV[3]
if step == 'failed' then
  if tonumber(f[4] or 0) == 0 then redis.call('HSET', KEYS[1], 'since', ARGV[4]) end
  redis.call('HINCRBY', KEYS[1], 'attempts', 1)
  redis.call('HSET', KEYS[1], 'next', ARGV[5], 'err', ARGV[6])
  return 1
end
if step == 'dead' then
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[11], '*', 'id', ARGV[5], 'cursor', ARGV[4], 'attempts',
    ARGV[6], 'since', ARGV[7], 'at', ARGV[8], 'err', ARGV[9], 'body', ARGV[10])
end
redis.call('HSET', KEYS[1], 'cursor', ARGV[4], 'attempts', 0, 'since', 0, 'next', 0)
return 1
