-- Queue statistics of one site. KEYS[1] pending, KEYS[2] claims, KEYS[3] queued, KEYS[4] human decisions.
-- Returns {depth, claimed, oldest pending age ms, then 24 counts of moderator decisions by hour, oldest first}:
-- count k (1-based) holds those from 25 - k hours ago (included) to 24 - k hours ago (excluded); the last one
-- is the last hour, its start included (review::hour_bucket). Expired leases count as depth.
local now = now_ms()
local claimed = redis.call('ZCOUNT', KEYS[2], '(' .. now, '+inf')
local expired = redis.call('ZCOUNT', KEYS[2], '-inf', now)
local depth = redis.call('ZCARD', KEYS[1]) + expired
local oldest = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
local age = 0
if oldest[2] then age = math.max(0, now - tonumber(oldest[2])) end
local out = {depth, claimed, age}
local H = 3600000
for k = 0, 23 do
  local hi = '+inf'
  if k < 23 then hi = '(' .. (now - (23 - k) * H) end
  out[#out + 1] = redis.call('ZCOUNT', KEYS[4], now - (24 - k) * H, hi)
end
return out
