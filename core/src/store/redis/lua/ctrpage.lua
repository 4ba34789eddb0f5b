-- passgate: the usage of one batch of listed counters (Store::counters_page). The client picks
-- the batch from the counter indexes (ZRANGE BYLEX); this script never walks an index.
-- KEYS: the two counter indexes, then each counter's hash and log. ARGV: n, then per counter its
-- op fields (read_op in lib.lua) and its members in the two indexes.
-- Returns per counter its usage, or '-' for a counter that no longer exists (its window expired):
-- its index entries are removed.
local nsix, scix = key(), key()
local n = tonumber(arg())
local out = {}
for i = 1, n do
  local op = read_op()
  local m_ns, m_sc = arg(), arg()
  if redis.call('EXISTS', op.c) == 0 then
    redis.call('ZREM', nsix, m_ns)
    redis.call('ZREM', scix, m_sc)
    out[i] = '-'
  else
    out[i] = D.str(usage(op))
  end
end
return out
