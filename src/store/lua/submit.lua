-- Admits one comment in one step: idempotency key, rate limits (GCRA), captcha consume+check, the comment record
-- with its first history event, its review-queue entry or nothing, and its decision event.
-- KEYS[1] idempotency key, KEYS[2] captcha challenge key, KEYS[3] comment hash, KEYS[4] pending zset,
-- KEYS[5] queued zset, KEYS[6] decision stream, KEYS[7..] rate-limit keys.
-- ARGV[1] captcha mode ('1' check, '0' not required), ARGV[2] expected answer hash, ARGV[3] record json,
-- ARGV[4] status, ARGV[5] response json, ARGV[6] retention ms, ARGV[7] idempotency ttl ms,
-- ARGV[8] comment id, ARGV[9] the decision event as JSON without its closing brace (the store's time is
-- appended here, so no JSON is encoded in the script), ARGV[10] stream maxlen,
-- ARGV[11..] per rate limit: emission ms, tolerance ms, shadow flag; then the campaign probe: n (0: none), and when
-- n > 0 the n bucket keys, the comment key prefix, the signature, the author tag, the window ms, the positions that
-- must agree, the authors that make a campaign, the bucket cap, the campaign key prefix, the member cap, and the
-- alternate status, record json, response json and event head ('' for none); then the idempotency key's hash, the author
-- index key prefix, the m author hashes (keyed hashes of phone and e-mail) and, last, m. The comment hash keeps the
-- author hashes ('authors') and the idempotency key's hash ('idem') for erasure; each author index lists the
-- comment until its retention ends (forever while held).
-- The first history event lives in the comment hash (field e0); later ones in the history list (decide.lua).
-- The campaign probe (store::CampaignProbe): copies are the bucket entries within the window whose stored
-- signature agrees in enough positions; enough distinct authors make a campaign, and the alternate outcome is
-- stored. Returns {1, cursor, shadow hits, campaign id or ''} recorded | {2, response json} replay | {3, refused, shadow hits} rate limited |
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

local record, status, response, event_head = ARGV[3], ARGV[4], ARGV[5], ARGV[9]
local c0 = 11 + 3 * (#KEYS - 6)
local n_buckets = tonumber(ARGV[c0])
local campaign, copies, sig, comment_prefix = nil, {}, nil, nil
if n_buckets > 0 then
  local p = c0 + n_buckets
  comment_prefix, sig = ARGV[p + 1], ARGV[p + 2]
  local author, window = ARGV[p + 3], tonumber(ARGV[p + 4])
  local min_agree, min_authors = tonumber(ARGV[p + 5]), tonumber(ARGV[p + 6])
  local bucket_cap = tonumber(ARGV[p + 7])
  local seen, authors_seen, n_auth, oldest_t = {}, {[author] = true}, 1, nil
  local oldest
  for i = c0 + 1, c0 + n_buckets do
    local bucket = ARGV[i]
    redis.call('ZREMRANGEBYSCORE', bucket, '-inf', '(' .. (now - window))
    local entries = redis.call('ZRANGE', bucket, 0, -1, 'WITHSCORES')
    for j = 1, #entries, 2 do
      local m = entries[j]
      if not seen[m] then
        seen[m] = true
        local sp = string.find(m, ' ', 1, true)
        if sp then
          local id, who = string.sub(m, 1, sp - 1), string.sub(m, sp + 1)
          local other = redis.call('HGET', comment_prefix .. id, 'sig')
          local t = tonumber(entries[j + 1])
          if other and sketch_agreement(other, sig) >= min_agree then
            table.insert(copies, {id, t})
            if not authors_seen[who] then
              authors_seen[who] = true
              n_auth = n_auth + 1
            end
            if oldest_t == nil or t < oldest_t then
              oldest, oldest_t = id, t
            end
          end
        end
      end
    end
  end
  if n_auth >= min_authors then
    campaign = redis.call('HGET', comment_prefix .. oldest, 'campaign') or oldest
    if ARGV[p + 10] ~= '' then
      status, record, response, event_head = ARGV[p + 10], ARGV[p + 11], ARGV[p + 12], ARGV[p + 13]
    end
  end
  local member = ARGV[8] .. ' ' .. author
  for i = c0 + 1, c0 + n_buckets do
    redis.call('ZADD', ARGV[i], now, member)
    redis.call('ZREMRANGEBYRANK', ARGV[i], 0, -(bucket_cap + 1))
    redis.call('PEXPIRE', ARGV[i], window)
  end
  if campaign then
    local set = ARGV[p + 8] .. campaign
    redis.call('ZADD', set, now, ARGV[8])
    for _, copy in ipairs(copies) do
      redis.call('ZADD', set, 'NX', copy[2], copy[1])
      local k = comment_prefix .. copy[1]
      if redis.call('EXISTS', k) == 1 then
        redis.call('HSET', k, 'campaign', campaign)
      end
    end
    redis.call('ZREMRANGEBYRANK', set, 0, -(tonumber(ARGV[p + 9]) + 1))
    redis.call('PEXPIRE', set, ARGV[6])
  end
end

local retention = tonumber(ARGV[6])
local n_authors = tonumber(ARGV[#ARGV])
local author_prefix = ARGV[#ARGV - n_authors - 1]
local authors = {}
for i = #ARGV - n_authors, #ARGV - 1 do
  table.insert(authors, ARGV[i])
end
local event = event_head .. ',"decided_ms":' .. now
local cursor = redis.call('XADD', KEYS[6], 'MAXLEN', '~', ARGV[10], '*', 'e', event .. '}')
redis.call('HSET', KEYS[3], 'data', record, 'status', status, 'queued_ms', now, 'retention', retention,
  'e0', event .. ',"cursor":"' .. cursor .. '"}')
redis.call('HSET', KEYS[3], 'authors', table.concat(authors, ' '), 'idem', ARGV[#ARGV - n_authors - 2])
if sig then
  redis.call('HSET', KEYS[3], 'sig', sig)
end
if campaign then
  redis.call('HSET', KEYS[3], 'campaign', campaign)
end
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
redis.call('SET', KEYS[1], response, 'PX', ARGV[7])
return {1, cursor, shadow_hits, campaign or ''}
