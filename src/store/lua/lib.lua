-- Helpers prepended by the Redis store to every script (Redis has no script includes).

-- Redis' own clock in epoch milliseconds, so replica clocks never matter.
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- One GCRA step for the state at `key`: returns (new theoretical arrival time, nil) when allowed,
-- (nil, wait ms) when refused. Writes nothing.
local function gcra(key, emission, tolerance, now)
  local tat = tonumber(redis.call('GET', key) or now) or now
  if tat < now then tat = now end
  local allow_at = tat - tolerance
  if now < allow_at then
    return nil, allow_at - now
  end
  return tat + emission, nil
end

-- Stores a GCRA state, expiring when it no longer matters.
local function gcra_store(key, tat, now)
  redis.call('SET', key, string.format('%d', tat), 'PX', math.max(1, tat - now))
end

-- Checks n limits: keys KEYS[k0 + i], parameters ARGV[a0 + 3(i-1) + 1..3] (emission ms, tolerance ms, shadow
-- flag). Writes nothing. Returns (refused {index, wait, ...}, shadow hits {index, ...}, new states), indexes
-- 0-based; pass the new states to commit_limits to charge.
local function check_limits(k0, a0, n, now)
  local new_tats = {}
  local refused = {}
  local shadow_hits = {}
  for i = 1, n do
    local base = a0 + (i - 1) * 3
    local tat, wait = gcra(KEYS[k0 + i], tonumber(ARGV[base + 1]), tonumber(ARGV[base + 2]), now)
    if tat then
      new_tats[i] = tat
    elseif ARGV[base + 3] == '1' then
      table.insert(shadow_hits, i - 1)
    else
      table.insert(refused, i - 1)
      table.insert(refused, wait)
    end
  end
  return refused, shadow_hits, new_tats
end

-- Charges every limit check_limits allowed.
local function commit_limits(k0, n, new_tats, now)
  for i = 1, n do
    if new_tats[i] then gcra_store(KEYS[k0 + i], new_tats[i], now) end
  end
end

-- Consumes a captcha challenge stored as "<expires ms>:<answer hash>".
-- Returns 'live' and the stored hash, or 'expired', or 'unknown'.
local function take_challenge(key, now)
  local v = redis.call('GET', key)
  if not v then return 'unknown', nil end
  redis.call('DEL', key)
  local sep = string.find(v, ':', 1, true)
  if not sep then return 'unknown', nil end
  if now >= tonumber(string.sub(v, 1, sep - 1)) then return 'expired', nil end
  return 'live', string.sub(v, sep + 1)
end

-- Sets the entry of comment `id` in the author index `key` to expire at `expire_at` ('+inf': never, while the
-- comment is held), drops entries past their time, and lets the index key live exactly as long as its last entry.
local function author_index_put(key, id, expire_at, now)
  redis.call('ZADD', key, expire_at, id)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
  if last[2] == 'inf' then
    redis.call('PERSIST', key)
  elseif last[2] then
    redis.call('PEXPIREAT', key, math.floor(tonumber(last[2])))
  end
end

-- Every author index entry of the comment at `ck` (its 'authors' field lists the author hashes; `prefix` is the
-- author index key prefix of its site).
local function author_index_all(ck, prefix, id, expire_at, now)
  local authors = redis.call('HGET', ck, 'authors')
  if not authors then return end
  for h in string.gmatch(authors, '%S+') do
    author_index_put(prefix .. h, id, expire_at, now)
  end
end

-- Appends an audit entry to the stream `key` (capped near `maxlen`): `who` did `what` at `now`, with whichever of
-- the optional fields `e` has, written in one order (the reader, `RedisStore::audit`, reads a missing one as empty).
-- Returns the entry's cursor.
local function audit_add(key, maxlen, now, who, what, e)
  local args = {'XADD', key, 'MAXLEN', '~', maxlen, '*', 'who', who, 'at', now, 'what', what}
  for _, name in ipairs({'site', 'comment', 'before', 'after', 'label', 'why', 'detail'}) do
    if e[name] then
      table.insert(args, name)
      table.insert(args, e[name])
    end
  end
  return redis.call(unpack(args))
end

-- Compares two strings without an early exit on the first differing byte.
local function ct_equal(a, b)
  if #a ~= #b then return false end
  local diff = 0
  for i = 1, #a do
    diff = bit.bor(diff, bit.bxor(string.byte(a, i), string.byte(b, i)))
  end
  return diff == 0
end


-- How many positions of two campaign sketch signatures agree (4 hex digits each; 0 when their lengths differ):
-- text::sketch::agreement_hex.
local function sketch_agreement(a, b)
  if #a ~= #b then
    return 0
  end
  local n = 0
  for k = 1, #a, 4 do
    if string.sub(a, k, k + 3) == string.sub(b, k, k + 3) then
      n = n + 1
    end
  end
  return n
end
