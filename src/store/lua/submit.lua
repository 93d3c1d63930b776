-- Admits one comment in one step: idempotency key, rate limits (GCRA), captcha consume+check, the comment record,
-- its history, its review-queue entry or nothing, and its decision event.
-- KEYS[1] idempotency key, KEYS[2] captcha challenge key, KEYS[3] comment hash, KEYS[4] comment history list,
-- KEYS[5] pending zset, KEYS[6] queued zset, KEYS[7] decision stream, KEYS[8..] rate-limit keys.
-- ARGV[1] captcha mode ('1' check, '0' not required), ARGV[2] expected answer hash, ARGV[3] record json,
-- ARGV[4] status, ARGV[5] response json, ARGV[6] retention ms, ARGV[7] idempotency ttl ms,
-- ARGV[8] comment id, ARGV[9] thread id, ARGV[10] policy version, ARGV[11] model version, ARGV[12] stream maxlen,
-- ARGV[13] submission time ms (as recorded),
-- ARGV[14..] per rate limit: emission ms, tolerance ms, shadow flag.
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
local refused, shadow_hits, new_tats = check_limits(7, 13, #KEYS - 7, now)
if #refused > 0 then
  return {3, refused, shadow_hits}
end

if ARGV[1] == '1' then
  local state, stored = take_challenge(KEYS[2], now)
  if state == 'expired' then return {5} end
  if state ~= 'live' or not ct_equal(stored, ARGV[2]) then return {4} end
end
commit_limits(7, #KEYS - 7, new_tats, now)

local status = ARGV[4]
local retention = tonumber(ARGV[6])
redis.call('HSET', KEYS[3], 'data', ARGV[3], 'status', status, 'queued_ms', now, 'retention', retention)
-- Held comments never expire; retention starts when a comment is decided.
if status ~= 'PENDING_REVIEW' then
  redis.call('PEXPIRE', KEYS[3], retention)
end
if status == 'PENDING_REVIEW' then
  redis.call('ZADD', KEYS[5], now, ARGV[8])
  redis.call('ZADD', KEYS[6], now, ARGV[8])
end
local event = {
  comment_id = ARGV[8], thread_id = ARGV[9], status = status, kind = 'AUTOMATIC', actor = 'auto',
  label = '', note = '', decided_ms = now, policy_version = tonumber(ARGV[10]), model_version = ARGV[11],
  submitted_ms = tonumber(ARGV[13])
}
local cursor = redis.call('XADD', KEYS[7], 'MAXLEN', '~', ARGV[12], '*', 'e', cjson.encode(event))
event.cursor = cursor
redis.call('RPUSH', KEYS[4], cjson.encode(event))
if status ~= 'PENDING_REVIEW' then
  redis.call('PEXPIRE', KEYS[4], retention)
end
redis.call('SET', KEYS[1], ARGV[5], 'PX', ARGV[7])
return {1, cursor, shadow_hits}
