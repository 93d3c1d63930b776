-- Records a moderator decision. Review mode (ARGV[2] = 'REVIEW') is fenced by the lease; overturn mode
-- (ARGV[2] = 'OVERTURN') by the expected current status. Appends the event to the decision stream and the
-- comment's history, the label to the label stream, the audit entry, and counts human decisions.
-- KEYS[1] comment hash, KEYS[2] history, KEYS[3] claims zset, KEYS[4] queued zset, KEYS[5] decision stream,
-- KEYS[6] label stream, KEYS[7] audit stream, KEYS[8] human-decisions zset, KEYS[9] pending zset, KEYS[10] counters
-- hash (its 'relabels' field counts the label rows that replace an earlier label of the same comment, so that the
-- labelled comments are the label stream's length less it).
-- ARGV[1] comment id, ARGV[2] mode, ARGV[3] lease token or expected status, ARGV[4] new status, ARGV[5] actor,
-- ARGV[6] label, ARGV[7] note, ARGV[8] stream maxlen, ARGV[9] site, ARGV[10] audit maxlen, ARGV[11] author index
-- key prefix (the author indexes list the comment until its retention ends; its label rows are kept for erasure).
-- Returns {1, event json} or {0} when fenced out (nothing changed), {-1} when the comment is unknown.
local now = now_ms()
local f = redis.call('HMGET', KEYS[1], 'status', 'lease_token', 'lease_until', 'data', 'retention')
if not f[4] then
  return {-1}
end
if ARGV[2] == 'REVIEW' then
  if f[1] ~= 'PENDING_REVIEW' or f[2] ~= ARGV[3] or tonumber(f[3] or 0) <= now then
    return {0}
  end
else
  if f[1] ~= ARGV[3] then
    return {0}
  end
end
local rec = cjson.decode(f[4])
redis.call('HSET', KEYS[1], 'status', ARGV[4], 'label', ARGV[6])
redis.call('HDEL', KEYS[1], 'lease_token', 'lease_until', 'claimed_by')
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('ZREM', KEYS[9], ARGV[1])
local event = {
  comment_id = ARGV[1], thread_id = rec.thread_id, status = ARGV[4], kind = ARGV[2], actor = ARGV[5],
  label = ARGV[6], note = ARGV[7], decided_ms = now, policy_version = rec.policy_version,
  model_version = rec.model_version, submitted_ms = rec.created_ms
}
local cursor = redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[8], '*', 'e', cjson.encode(event))
event.cursor = cursor
local json = cjson.encode(event)
redis.call('RPUSH', KEYS[2], json)
if f[5] then
  redis.call('PEXPIRE', KEYS[1], tonumber(f[5]))
  redis.call('PEXPIRE', KEYS[2], tonumber(f[5]))
  author_index_all(KEYS[1], ARGV[11], ARGV[1], now + tonumber(f[5]), now)
end
local lid = redis.call('XADD', KEYS[6], 'MAXLEN', '~', ARGV[8], '*', 'id', ARGV[1], 'label', ARGV[6], 'by', ARGV[5],
  'at', now, 'text', rec.title .. '\n' .. rec.body)
local lids = redis.call('HGET', KEYS[1], 'labels')
if lids then
  lid = lids .. ' ' .. lid
  redis.call('HINCRBY', KEYS[10], 'relabels', 1)
end
redis.call('HSET', KEYS[1], 'labels', lid)
audit_add(KEYS[7], ARGV[10], now, ARGV[5], ARGV[2], {site = ARGV[9], comment = ARGV[1], before = f[1],
  after = ARGV[4], label = ARGV[6], why = ARGV[7]})
redis.call('ZADD', KEYS[8], now, cursor)
redis.call('ZREMRANGEBYSCORE', KEYS[8], '-inf', now - 86400000)
return {1, json}
