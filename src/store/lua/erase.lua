-- One erasure step over comments of one author on one site: each record given replaces the comment's record unless
-- the comment is gone or was erased before; its label rows, its idempotency entry, the reader's messages of its
-- appeals (in its history), its campaign signature and its entries in every author index (the 'authors' field:
-- phone and e-mail) are removed; every id given leaves KEYS[1]. Naturally idempotent: a rerun after an interruption finds the erased
-- comments marked and the indexes without them.
-- KEYS[1] the author index (or any key of the site when there is none), KEYS[2] label stream, KEYS[3] counters
-- hash (a comment's label rows past its first were counted as relabels: they go with it).
-- ARGV[1] comment key prefix, ARGV[2] history key prefix, ARGV[3] idempotency key prefix, ARGV[4] '1' to remove
-- the ids from KEYS[1], ARGV[5] n records, ARGV[6] author index key prefix, then n pairs (comment id, new record
-- json), then the ids of comments that are gone.
-- Returns the number of records replaced.
local n = tonumber(ARGV[5])
local erased = 0
local ids = {}
for i = 1, n do
  local id = ARGV[5 + 2 * i]
  local ck = ARGV[1] .. id
  table.insert(ids, id)
  local f = redis.call('HMGET', ck, 'data', 'erased', 'labels', 'idem', 'authors')
  if f[1] and not f[2] then
    redis.call('HSET', ck, 'data', ARGV[6 + 2 * i], 'erased', '1')
    -- The body's campaign signature goes with the body (its campaign mark stays: it names no one).
    redis.call('HDEL', ck, 'sig')
    if f[5] then
      for h in string.gmatch(f[5], '%S+') do
        redis.call('ZREM', ARGV[6] .. h, id)
      end
      redis.call('HDEL', ck, 'authors')
    end
    if f[3] then
      local rows = 0
      for lid in string.gmatch(f[3], '%S+') do
        redis.call('XDEL', KEYS[2], lid)
        rows = rows + 1
      end
      if rows > 1 then
        redis.call('HINCRBY', KEYS[3], 'relabels', 1 - rows)
      end
      redis.call('HDEL', ck, 'labels')
    end
    if f[4] then
      redis.call('DEL', ARGV[3] .. f[4])
      redis.call('HDEL', ck, 'idem')
    end
    local hk = ARGV[2] .. id
    local hist = redis.call('LRANGE', hk, 0, -1)
    for j, e in ipairs(hist) do
      if string.find(e, '"kind":"APPEAL"', 1, true) then
        local ev = cjson.decode(e)
        ev.note = ''
        redis.call('LSET', hk, j - 1, cjson.encode(ev))
      end
    end
    erased = erased + 1
  end
end
for i = 7 + 2 * n, #ARGV do
  table.insert(ids, ARGV[i])
end
if ARGV[4] == '1' and #ids > 0 then
  redis.call('ZREM', KEYS[1], unpack(ids))
end
return erased
