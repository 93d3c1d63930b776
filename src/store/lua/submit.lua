-- Admits one comment in one step: idempotency key, rate limits (GCRA), captcha consume+check, the comment record
-- with its first history event, its review-queue entry or nothing, and its decision event.
-- KEYS[1] idempotency key, KEYS[2] captcha challenge key, KEYS[3] comment hash, KEYS[4] pending zset,
-- KEYS[5] queued zset, KEYS[6] decision stream, KEYS[7..] rate-limit keys.
-- ARGV[1] captcha mode ('1' check, '0' not required), ARGV[2] expected answer hash, ARGV[3] record json,
-- ARGV[4] status, ARGV[5] response json, ARGV[6] retention ms, ARGV[7] idempotency ttl ms,
-- ARGV[8] comment id, ARGV[9] the decision event as JSON without its closing brace (the store's time is
-- appended here, so no JSON is encoded in the script), ARGV[10] stream maxlen,
-- ARGV[11..] per rate limit: emission ms, tolerance ms, shadow flag; then the idempotency key's hash, the author
-- index key prefix, the m author hashes (keyed hashes of phone and e-mail) and, last, m. The comment hash keeps the
-- author hashes ('authors') and the idempotency key's hash ('idem') for erasure; each author index lists the
-- comment until its retention ends (forever while held).
-- The first history event lives in the comment hash (field e0); later ones in the history list (decide.lua).
-- Returns {1, cursor, shadow hits} recorded | {2, response json} replay | {3, refused, shadow hits} rate limited |
-- {4} captcha invalid | {5} captcha expired.
local now = now_ms()

local prior = redis.call('GET', KEYS[1])
if prior then
  return {2, prior}
end

-- Limits are checked first (a refused request consumes nothing, its captcha included), then the captcha is
-- consumed and checked, and only a request with a right captcha is charged: junk challenge ids cannot drain the
-- site's limits.
local refused, shadow_hits, new_tats = check_limits(6, 10, #KEYS - 6, now)
if #refused > 0 then
  return {3, refused, shadow_hits}
end

if ARGV[1] == '1' then
  local state, stored = take_challenge(KEYS[2], now)
  if state == 'expired' then return {5} end
  if state ~= 'live' or not ct_equal(stored, ARGV[2]) then return {4} end
end
commit_limits(6, #KEYS - 6, new_tats, now)

local status = ARGV[4]
local retention = tonumber(ARGV[6])
local n_authors = tonumber(ARGV[#ARGV])
local author_prefix = ARGV[#ARGV - n_authors - 1]
local authors = {}
for i = #ARGV - n_authors, #ARGV - 1 do
  table.insert(authors, ARGV[i])
end
local event = ARGV[9] .. ',"decided_ms":' .. now
local cursor = redis.call('XADD', KEYS[6], 'MAXLEN', '~', ARGV[10], '*', 'e', event .. '}')
redis.call('HSET', KEYS[3], 'data', ARGV[3], 'status', status, 'queued_ms', now, 'retention', retention,
  'e0', event .. ',"cursor":"' .. cursor .. '"}')
redis.call('HSET', KEYS[3], 'authors', table.concat(authors, ' '), 'idem', ARGV[#ARGV - n_authors - 2])
local index_until = '+inf'
if status == 'PENDING_REVIEW' then
  -- Held comments never expire; retention starts when a comment is decided.
  redis.call('ZADD', KEYS[4], now, ARGV[8])
  redis.call('ZADD', KEYS[5], now, ARGV[8])
else
  redis.call('PEXPIRE', KEYS[3], retention)
  index_until = now + retention
end
for _, h in ipairs(authors) do
  author_index_put(author_prefix .. h, ARGV[8], index_until, now)
end
redis.call('SET', KEYS[1], ARGV[5], 'PX', ARGV[7])
return {1, cursor, shadow_hits}
