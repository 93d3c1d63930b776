-- Consumes a captcha challenge: the first caller gets it, every later caller finds nothing.
-- KEYS[1] challenge key. Returns {1, answer_hash} live | {2, ''} expired | {0, ''} unknown or used.
local state, hash = take_challenge(KEYS[1], now_ms())
if state == 'live' then return {1, hash} end
if state == 'expired' then return {2, ''} end
return {0, ''}
