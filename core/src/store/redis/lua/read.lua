-- passgate: the usage of each counter op now (Store::read), changing nothing.
local n = tonumber(arg())
local out = {}
for i = 1, n do out[i] = D.str(usage(read_op())) end
return out
