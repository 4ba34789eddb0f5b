-- passgate: delete one batch of counters (Store::reset_counters, which pages through the counter
-- indexes from the client, a bounded batch per call; this script never walks an index).
-- KEYS: the two counter indexes, then each counter's hash and log. ARGV: n, then per counter its
-- members in the two indexes. Returns the number of counters that existed.
local nsix, scix = key(), key()
local n = tonumber(arg())
local deleted = 0
for i = 1, n do
  local c, l = key(), key()
  local m_ns, m_sc = arg(), arg()
  if redis.call('EXISTS', c) == 1 then deleted = deleted + 1 end
  redis.call('DEL', c, l)
  redis.call('ZREM', nsix, m_ns)
  redis.call('ZREM', scix, m_sc)
end
return { tostring(deleted) }
