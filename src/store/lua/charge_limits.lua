-- Checks every rate limit of one request with GCRA and charges them only if no enforced limit refuses.
-- KEYS: one GCRA state key per limit (all under one {site} hash tag).
-- ARGV: per limit, three values: emission interval ms, burst tolerance ms, shadow flag ("1" or "0").
-- Returns {allowed (1/0), {index, wait_ms, ...} of refusing enforced limits, {index, ...} of shadow hits};
-- indexes are 0-based. Time is the server's own (TIME), so replica clocks do not matter.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local new_tats = {}
local refused = {}
local shadow_hits = {}
for i = 1, #KEYS do
  local emission = tonumber(ARGV[(i - 1) * 3 + 1])
  local tolerance = tonumber(ARGV[(i - 1) * 3 + 2])
  local shadow = ARGV[(i - 1) * 3 + 3] == '1'
  local tat = tonumber(redis.call('GET', KEYS[i]) or now) or now
  if tat < now then tat = now end
  local allow_at = tat - tolerance
  if now < allow_at then
    if shadow then
      table.insert(shadow_hits, i - 1)
    else
      table.insert(refused, i - 1)
      table.insert(refused, allow_at - now)
    end
  else
    new_tats[i] = tat + emission
  end
end
if #refused > 0 then
  return {0, refused, shadow_hits}
end
for i = 1, #KEYS do
  if new_tats[i] then
    redis.call('SET', KEYS[i], string.format('%d', new_tats[i]), 'PX', math.max(1, new_tats[i] - now))
  end
end
return {1, refused, shadow_hits}
