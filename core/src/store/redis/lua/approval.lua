-- passgate: move a pending approval request to approved / denied, atomically with its record
-- (Store::approval_resolve). Returns {'none'} | {'found', state json} (not pending: nothing
-- changed) | {'resolved'} | {'chain', last}.
local rkey, seqkey, tails, akey = key(), key(), key(), key()
local to_state, to_name, token, texp, retain = arg(), arg(), arg(), arg(), tonumber(arg())
local rec = read_record()
local v = redis.call('HMGET', akey, 'sname', 'state')
if not v[1] then return { 'none' } end
if v[1] ~= 'pending' then return { 'found', v[2] } end
local last = chain_check(tails, rec.chain, rec.seq)
if last then return { 'chain', tostring(last) } end
redis.call('HSET', akey, 'state', to_state, 'sname', to_name, 'token', token, 'texp', texp)
if redis.call('PTTL', akey) < retain then redis.call('PEXPIRE', akey, retain) end
append(rkey, seqkey, tails, rec)
return { 'resolved' }
