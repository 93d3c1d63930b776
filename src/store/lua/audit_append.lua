-- Appends one audit entry stamped with Redis' clock. KEYS[1] audit stream.
-- ARGV[1] maxlen, ARGV[2] who, ARGV[3] what, ARGV[4] site, ARGV[5] comment, ARGV[6] before, ARGV[7] after,
-- ARGV[8] label, ARGV[9] note, ARGV[10] detail. Returns the entry's cursor.
return audit_add(KEYS[1], ARGV[1], now_ms(), ARGV[2], ARGV[3], {site = ARGV[4], comment = ARGV[5],
  before = ARGV[6], after = ARGV[7], label = ARGV[8], why = ARGV[9], detail = ARGV[10]})
