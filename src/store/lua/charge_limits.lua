-- Checks every rate limit of one request with GCRA and charges them only if no enforced limit refuses.
-- KEYS: one GCRA state key per limit (all under one {site} hash tag).
-- ARGV: per limit, three values: emission interval ms, burst tolerance ms, shadow flag ("1" or "0").
-- Returns {allowed (1/0), {index, wait_ms, ...} of refusing enforced limits, {index, ...} of shadow hits}.
local refused, shadow_hits = charge_limits(0, 0, #KEYS, now_ms())
if #refused > 0 then
  return {0, refused, shadow_hits}
end
return {1, refused, shadow_hits}
