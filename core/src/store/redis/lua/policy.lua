-- passgate: replace the shared policy (policy_source=store) if its version is still the
-- expected one, appending its policy.changed record in the same step. Keys: the record keys,
-- the record's index keys, then the policy hash. Args: the record, then expected version, new
-- version, hash, doc. Returns {'ok'} | {'stale', version} | {'chain', last}.
local rkey, seqkey, tails = key(), key(), key()
local rec = read_record()
local pkey = key()
local expected, version, hash, doc = arg(), arg(), arg(), arg()
local cur = redis.call('HGET', pkey, 'version') or '0'
if cur ~= expected then return { 'stale', cur } end
local last = chain_check(tails, rec.chain, rec.seq)
if last then return { 'chain', tostring(last) } end
append(rkey, seqkey, tails, rec)
redis.call('HSET', pkey, 'version', version, 'hash', hash, 'doc', doc)
return { 'ok' }
