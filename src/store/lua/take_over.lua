-- Takes a held comment over: the caller gets a new lease whoever held it, the old token is dead, and an audit
-- entry names both holders. The rule (who may take over) is in `review::service::ReviewService::take_over`; the
-- script applies the one exclusion claim.lua applies too, in the same step: a comment held on an appeal against
-- the caller is not theirs to take.
-- KEYS[1] comment hash, KEYS[2] pending zset, KEYS[3] claims zset, KEYS[4] history list, KEYS[5] audit stream.
-- ARGV[1] comment id, ARGV[2] new lease token, ARGV[3] lease ms, ARGV[4] moderator, ARGV[5] note, ARGV[6] site,
-- ARGV[7] audit maxlen.
-- Returns {1, previous holder or '', lease_until, data, status, {history...}, campaign or ''}, {0, status} when the comment is
-- not held for review, {2} when it is held on an appeal against the caller, {-1} when it is unknown.
local now = now_ms()
local f = redis.call('HMGET', KEYS[1], 'status', 'lease_token', 'lease_until', 'claimed_by', 'data', 'e0',
  'appeal_of', 'campaign')
if not f[5] then
  return {-1}
end
if f[1] ~= 'PENDING_REVIEW' then
  return {0, f[1]}
end
if f[7] == ARGV[4] then
  return {2}
end
local from = ''
if f[2] and tonumber(f[3] or 0) > now then
  from = f[4] or ''
end
local lease_until = now + tonumber(ARGV[3])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[3], lease_until, ARGV[1])
redis.call('HSET', KEYS[1], 'lease_token', ARGV[2], 'lease_until', lease_until, 'claimed_by', ARGV[4])
audit_add(KEYS[5], ARGV[7], now, ARGV[4], 'TAKEOVER', {site = ARGV[6], comment = ARGV[1], before = from,
  after = ARGV[4], why = ARGV[5]})
local hist = redis.call('LRANGE', KEYS[4], 0, -1)
if f[6] then table.insert(hist, 1, f[6]) end
return {1, from, lease_until, f[5], f[1], hist, f[8] or ''}
