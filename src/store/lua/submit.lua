-- Admits one comment in one step: idempotency key, rate limits (GCRA), captcha consume+check, the comment record
-- with its first history event, its review-queue entry or nothing, and its decision event.
-- KEYS[1] idempotency key, KEYS[2] captcha challenge key, KEYS[3] comment hash, KEYS[4] pending zset,
-- KEYS[5] queued zset, KEYS[6] decision stream, KEYS[7..] rate-limit keys.
-- ARGV[1] captcha mode ('1' check, '0' not required), ARGV[2] expected answer hash, ARGV[3] record json,
-- ARGV[4] status, ARGV[5] response json, ARGV[6] retention ms, ARGV[7] idempotency ttl ms,
-- ARGV[8] comment id, ARGV[9] the decision event as JSON without its closing brace (the store's time is
-- appended here, so no JSON is encoded in the script), ARGV[10] stream maxlen,
-- ARGV[11..] per rate limit: emission ms, tolerance ms, shadow flag; then the campaign probe: n (0: none), and when
-- n > 0 the n band fields, the comment key prefix, the signature, the author tag, the window ms, the positions that
-- must agree, the authors that make a campaign, the entries kept per band, the campaign key prefix, the member cap,
-- the sketch key prefix (a generation number follows), the sketch's field cap per generation, and the alternate
-- status, record json, response json and event head ('' for none); then the idempotency key's hash, the author
-- index key prefix, the m author hashes (keyed hashes of phone and e-mail) and, last, m. The comment hash keeps the
-- author hashes ('authors') and the idempotency key's hash ('idem') for erasure; each author index lists the
-- comment until its retention ends (forever while held).
-- The first history event lives in the comment hash (field e0); later ones in the history list (decide.lua).
-- The campaign probe (store::CampaignProbe): copies are the sketch entries of the body's band values within the
-- window whose stored signature agrees in enough positions; a marked copy, or copies from enough distinct authors, make
-- the comment part of a campaign, and the alternate outcome is stored. Returns {1, cursor, shadow hits, campaign id or ''} recorded | {2, response json} replay | {3, refused, shadow hits} rate limited |
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
local n_bands = tonumber(ARGV[c0])
local campaign, copies, sig, comment_prefix = nil, {}, nil, nil
if n_bands > 0 then
  local p = c0 + n_bands
  comment_prefix, sig = ARGV[p + 1], ARGV[p + 2]
  local author, window = ARGV[p + 3], tonumber(ARGV[p + 4])
  local min_agree, min_authors = tonumber(ARGV[p + 5]), tonumber(ARGV[p + 6])
  local band_read = tonumber(ARGV[p + 7])
  local sketch_prefix, field_cap = ARGV[p + 10], tonumber(ARGV[p + 11])
  local since = now - window
  -- The sketch lives in generations of one window each: this one and the one before cover the window.
  local gen = math.floor(now / window)
  local cur, prev = sketch_prefix .. gen, sketch_prefix .. (gen - 1)
  local bands = {}
  for i = c0 + 1, c0 + n_bands do
    table.insert(bands, ARGV[i])
  end
  local cur_vals = redis.call('HMGET', cur, unpack(bands))
  local prev_vals = redis.call('HMGET', prev, unpack(bands))
  local seen, authors_seen, n_auth = {}, {[author] = true}, 1
  local oldest, oldest_t
  -- Each band's newest entries ("time:comment_id:author;" appended, newest last); a copy already marked with a
  -- campaign ends the search: the comment joins that campaign.
  for b = 1, n_bands do
    local entries = {}
    for _, v in ipairs({prev_vals[b], cur_vals[b]}) do
      if v then
        for t, id, who in string.gmatch(v, '(%d+):([^:;]+):([^;]*);') do
          table.insert(entries, {tonumber(t), id, who})
        end
      end
    end
    local examined = 0
    for e = #entries, 1, -1 do
      local t, id, who = entries[e][1], entries[e][2], entries[e][3]
      if t < since or examined >= band_read then
        break
      end
      examined = examined + 1
      if not seen[id] then
        seen[id] = true
        local f = redis.call('HMGET', comment_prefix .. id, 'sig', 'campaign')
        if f[1] and sketch_agreement(f[1], sig) >= min_agree then
          if f[2] then
            campaign = f[2]
            break
          end
          table.insert(copies, {id, t})
          if not authors_seen[who] then
            authors_seen[who] = true
            n_auth = n_auth + 1
          end
          if oldest_t == nil or t < oldest_t or (t == oldest_t and id < oldest) then
            oldest, oldest_t = id, t
          end
        end
      end
    end
    if campaign then
      break
    end
  end
  if not campaign and n_auth >= min_authors then
    campaign = oldest
  end
  if campaign and ARGV[p + 12] ~= '' then
    status, record, response, event_head = ARGV[p + 12], ARGV[p + 13], ARGV[p + 14], ARGV[p + 15]
  end
  -- The comment enters this generation: each band's field gets its entry, keeping the newest `band_read`; a
  -- generation at its field cap only adds to the fields it has. It expires when the next one ends.
  local entry = now .. ':' .. ARGV[8] .. ':' .. author .. ';'
  local full = redis.call('HLEN', cur) >= field_cap
  local fields = {}
  for b = 1, n_bands do
    if cur_vals[b] or not full then
      local v = (cur_vals[b] or '') .. entry
      local n = select(2, string.gsub(v, ';', ';'))
      while n > band_read do
        v = string.sub(v, string.find(v, ';', 1, true) + 1)
        n = n - 1
      end
      table.insert(fields, bands[b])
      table.insert(fields, v)
    end
  end
  if #fields > 0 then
    redis.call('HSET', cur, unpack(fields))
    redis.call('PEXPIREAT', cur, (gen + 2) * window)
  end
  if campaign then
    -- Copies found unmarked are marked (their hashes exist: their signatures were just read).
    local set = ARGV[p + 8] .. campaign
    redis.call('ZADD', set, now, ARGV[8])
    for _, copy in ipairs(copies) do
      redis.call('ZADD', set, 'NX', copy[2], copy[1])
      redis.call('HSET', comment_prefix .. copy[1], 'campaign', campaign)
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
