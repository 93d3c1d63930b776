-- Files a reader's appeal: a decided comment goes back to the review queue, marked with the decider it is against
-- (claim.lua never hands it to them). Fenced by the expected status and by no earlier appeal. The reader's message
-- goes to the comment's history only (erasure can blank it there), never to the decision stream.
-- KEYS[1] comment hash, KEYS[2] history list, KEYS[3] pending zset, KEYS[4] queued zset, KEYS[5] decision stream,
-- KEYS[6] audit stream.
-- ARGV[1] comment id, ARGV[2] expected status, ARGV[3] message, ARGV[4] who (the caller), ARGV[5] stream maxlen,
-- ARGV[6] site, ARGV[7] audit maxlen, ARGV[8] author index key prefix, ARGV[9] the event's actor
-- (`review::READER_ACTOR`).
-- Returns {1, event json, decider} | {0, status} wrong status | {2} appealed before | {-1} unknown.
local now = now_ms()
local f = redis.call('HMGET', KEYS[1], 'status', 'data', 'appeal_of', 'e0')
if not f[2] then
  return {-1}
end
if f[1] ~= ARGV[2] then
  return {0, f[1]}
end
if f[3] then
  return {2}
end
local last = redis.call('LINDEX', KEYS[2], -1) or f[4]
local decider = ''
if last then decider = cjson.decode(last).actor or '' end
local rec = cjson.decode(f[2])
local event = {
  comment_id = ARGV[1], thread_id = rec.thread_id, status = 'PENDING_REVIEW', kind = 'APPEAL', actor = ARGV[9],
  label = '', note = '', decided_ms = now, policy_version = rec.policy_version,
  model_version = rec.model_version, submitted_ms = rec.created_ms
}
local cursor = redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[5], '*', 'e', cjson.encode(event))
event.cursor = cursor
local json = cjson.encode(event)
event.note = ARGV[3]
redis.call('RPUSH', KEYS[2], cjson.encode(event))
redis.call('HSET', KEYS[1], 'status', 'PENDING_REVIEW', 'appeal_of', decider, 'queued_ms', now)
redis.call('HDEL', KEYS[1], 'lease_token', 'lease_until', 'claimed_by')
-- Held comments never expire.
redis.call('PERSIST', KEYS[1])
redis.call('PERSIST', KEYS[2])
redis.call('ZADD', KEYS[3], now, ARGV[1])
redis.call('ZADD', KEYS[4], now, ARGV[1])
author_index_all(KEYS[1], ARGV[8], ARGV[1], '+inf', now)
audit_add(KEYS[6], ARGV[7], now, ARGV[4], 'APPEAL', {site = ARGV[6], comment = ARGV[1], before = f[1],
  after = 'PENDING_REVIEW', detail = 'appeal against ' .. decider})
return {1, json, decider}
