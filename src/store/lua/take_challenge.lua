-- Consumes a captcha challenge: the first caller gets it, every later caller finds nothing.
-- KEYS[1] challenge key. Returns {1, answer_hash} live | {2, ''} expired | {0, ''} unknown or used.
local v = redis.call('GET', KEYS[1])
if not v then
  return {0, ''}
end
redis.call('DEL', KEYS[1])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local sep = string.find(v, ':', 1, true)
if not sep then
  return {0, ''}
end
if now >= tonumber(string.sub(v, 1, sep - 1)) then
  return {2, ''}
end
return {1, string.sub(v, sep + 1)}
