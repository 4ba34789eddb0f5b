-- passgate: append a record that counts nothing (Store::append). Returns {'ok'} | {'chain', last}.
local rkey, seqkey, tails = key(), key(), key()
local rec = read_record()
local last = chain_check(tails, rec.chain, rec.seq)
if last then return { 'chain', tostring(last) } end
append(rkey, seqkey, tails, rec)
return { 'ok' }
