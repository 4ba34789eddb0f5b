-- passgate: delete a chain's oldest records and store the checkpoint that replaces them, atomically
-- (Store::prune_prefix). The client names the records (their append numbers `g`, which must be
-- exactly the chain's first ones) and the index keys each is filed under, so every key touched is
-- declared. Bounded: one call deletes at most the records it was given.
-- Returns {'ok', n} | {'stale'} (a checkpoint at least as new is stored) | {'tail', seq} (it would
-- delete the chain's newest record) | {'moved'} (the chain's first records are not those given).
local rkey, tails, ck, ckseq, chainix, bundles = key(), key(), key(), key(), key(), key()
local chain, through, json = arg(), tonumber(arg()), arg()
local n = tonumber(arg())

local stored = tonumber(redis.call('HGET', ckseq, chain) or '0')
if stored >= through then return { 'stale' } end
local tail = tonumber(redis.call('HGET', tails, chain) or '0')
if tail <= through then return { 'tail', tostring(tail) } end

local gs, ixs, evs = {}, {}, {}
for i = 1, n do
  gs[i] = arg()
  local m = tonumber(arg())
  local list = {}
  for j = 1, m do list[j] = key() end
  ixs[i] = list
  evs[i] = arg()
end
local first = redis.call('ZRANGE', chainix, 0, n - 1)
if #first ~= n then return { 'moved' } end
for i = 1, n do
  if first[i] ~= gs[i] then return { 'moved' } end
end

for i = 1, n do
  redis.call('HDEL', rkey, gs[i])
  -- An index left empty is deleted by Redis itself (an evaluation's `x:eval:<id>` goes with its
  -- only record).
  for _, ix in ipairs(ixs[i]) do redis.call('ZREM', ix, gs[i]) end
  -- A pruned decision's run bundle goes with it.
  if evs[i] ~= '' then redis.call('HDEL', bundles, evs[i]) end
end
redis.call('HSET', ck, chain, json)
redis.call('HSET', ckseq, chain, through)
return { 'ok', tostring(n) }
