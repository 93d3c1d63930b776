-- Queue statistics of one site. KEYS[1] pending, KEYS[2] claims, KEYS[3] queued, KEYS[4] human decisions.
-- Returns {depth, claimed, oldest pending age ms, decisions in the last hour}. Expired leases count as depth.
local now = now_ms()
local claimed = redis.call('ZCOUNT', KEYS[2], '(' .. now, '+inf')
local expired = redis.call('ZCOUNT', KEYS[2], '-inf', now)
local depth = redis.call('ZCARD', KEYS[1]) + expired
local oldest = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
local age = 0
if oldest[2] then age = math.max(0, now - tonumber(oldest[2])) end
local recent = redis.call('ZCOUNT', KEYS[4], now - 3600000, '+inf')
return {depth, claimed, age, recent}
