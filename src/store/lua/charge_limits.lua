-- Checks every rate limit of one request with GCRA and charges them only if no enforced limit refuses.
-- KEYS: one GCRA state key per limit (all under one {site} hash tag).
-- ARGV: per limit, three values: emission interval ms, burst tolerance ms, shadow flag ("1" or "0").
-- Returns {allowed (1/0), {index, wait_ms, ...} of refusing enforced limits, {index, ...} of shadow hits}.
local now = now_ms()
local refused, shadow_hits, new_tats = check_limits(0, 0, #KEYS, now)
if #refused > 0 then
  return {0, refused, shadow_hits}
end
commit_limits(0, #KEYS, new_tats, now)
return {1, refused, shadow_hits}
