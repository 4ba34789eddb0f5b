-- passgate: shared functions, prepended to every script.
--
-- Amounts are exact decimals scaled by 10^18 and written as integer strings ("-1500000000000000000"
-- is -1.5). Lua numbers are doubles, so amounts are never summed as numbers: `D` below adds,
-- subtracts and compares them as base-10^7 limbs (each limb and every intermediate sum stays far
-- below 2^53, so every step is exact). Times (epoch ms) and sequence numbers are integers below
-- 2^53 and are exact as Lua numbers.

local BASE = 10000000

local D = {}

-- "123" / "-123" -> {neg = bool, l = {limbs, least significant first}}
function D.parse(s)
  local neg = false
  if string.sub(s, 1, 1) == '-' then
    neg = true
    s = string.sub(s, 2)
  end
  if not string.match(s, '^%d+$') then
    error('passgate: not a scaled amount: ' .. tostring(s))
  end
  local l = {}
  local i = #s
  while i >= 1 do
    local j = i - 6
    if j < 1 then j = 1 end
    l[#l + 1] = tonumber(string.sub(s, j, i))
    i = j - 1
  end
  while #l > 0 and l[#l] == 0 do l[#l] = nil end
  if #l == 0 then neg = false end
  return { neg = neg, l = l }
end

function D.str(x)
  local l = x.l
  if #l == 0 then return '0' end
  local parts = { string.format('%d', l[#l]) }
  for i = #l - 1, 1, -1 do parts[#parts + 1] = string.format('%07d', l[i]) end
  return (x.neg and '-' or '') .. table.concat(parts)
end

local function cmp_abs(a, b)
  if #a ~= #b then return (#a < #b) and -1 or 1 end
  for i = #a, 1, -1 do
    if a[i] ~= b[i] then return (a[i] < b[i]) and -1 or 1 end
  end
  return 0
end

local function add_abs(a, b)
  local r, carry = {}, 0
  for i = 1, math.max(#a, #b) do
    local s = (a[i] or 0) + (b[i] or 0) + carry
    if s >= BASE then r[i] = s - BASE; carry = 1 else r[i] = s; carry = 0 end
  end
  if carry > 0 then r[#r + 1] = carry end
  return r
end

-- |a| >= |b|
local function sub_abs(a, b)
  local r, borrow = {}, 0
  for i = 1, #a do
    local s = a[i] - (b[i] or 0) - borrow
    if s < 0 then s = s + BASE; borrow = 1 else borrow = 0 end
    r[i] = s
  end
  while #r > 0 and r[#r] == 0 do r[#r] = nil end
  return r
end

function D.add(x, y)
  if x.neg == y.neg then return { neg = x.neg and #x.l + #y.l > 0, l = add_abs(x.l, y.l) } end
  local c = cmp_abs(x.l, y.l)
  if c == 0 then return { neg = false, l = {} } end
  if c > 0 then return { neg = x.neg, l = sub_abs(x.l, y.l) } end
  return { neg = y.neg, l = sub_abs(y.l, x.l) }
end

function D.negate(x)
  return { neg = (not x.neg) and #x.l > 0, l = x.l }
end

function D.sub(x, y) return D.add(x, D.negate(y)) end

function D.cmp(x, y)
  if x.neg ~= y.neg then return x.neg and -1 or 1 end
  local c = cmp_abs(x.l, y.l)
  if x.neg then return -c end
  return c
end

function D.max(x, y)
  if D.cmp(x, y) >= 0 then return x end
  return y
end

D.ZERO = { neg = false, l = {} }

-- Totals beyond 7 limbs (49 digits, far past what rust_decimal reads back) are refused.
function D.too_big(x) return #x.l > 7 end

-- Argument and key cursors: the client pushes fields in the order the script reads them.
local argi, keyi = 0, 0
local function arg()
  argi = argi + 1
  return ARGV[argi]
end
local function key()
  keyi = keyi + 1
  return KEYS[keyi]
end

-- One counter op as the client sends it. kind: F(orever), X (fixed), S(liding).
-- Fields: kind, amount, need, max, cur_start (fixed: the current window), from (sliding: entries
-- at or before it have left the window), ttl_ms (0: none).
local function read_op()
  local op = { c = key(), l = key() }
  op.kind = arg()
  op.amount = D.parse(arg())
  op.need = D.parse(arg())
  op.max = D.parse(arg())
  op.cur_start = arg()
  op.from = arg()
  op.ttl = tonumber(arg())
  return op
end

-- Sum of log entries at or before `from` (members are "<n>:<amount>").
local function log_sum_until(l, from)
  local sum = D.ZERO
  for _, m in ipairs(redis.call('ZRANGEBYSCORE', l, '-inf', from)) do
    sum = D.add(sum, D.parse(string.match(m, ':(.*)$')))
  end
  return sum
end

-- Usage at now, changing nothing (the memory store's `Counter::usage`). Keeps what it read of the
-- counter in `op.stored` (`sum` present, `start`) for a caller that writes it next (reserve.lua).
local function usage(op)
  local v = redis.call('HMGET', op.c, 'sum', 'start')
  op.stored = { has_sum = v[1] and true or false, start = v[2] or nil }
  if not v[1] then return D.ZERO end
  local sum = D.parse(v[1])
  if op.kind == 'X' then
    -- A window never moves backwards: an earlier window's request counts against the stored one.
    if not v[2] or tonumber(op.cur_start) <= tonumber(v[2]) then return sum end
    return D.ZERO
  elseif op.kind == 'S' then
    -- Every amount in a sliding sum has its entry in the log: no log, nothing left in the window
    -- (the sum is recomputed as zero rather than trusted without the entries that make it up).
    if redis.call('EXISTS', op.l) == 0 then return D.ZERO end
    return D.sub(sum, log_sum_until(op.l, op.from))
  end
  return sum
end

-- Rolls a counter's window (the writes of the memory store's `Counter::roll`); the caller then
-- sets `sum` to the rolled usage plus what it adds, so `usage(op)` taken before is the new base.
-- `known`: the counter's stored `start` is `start` (nil: none), read in this call and unchanged
-- since; otherwise it is read here.
local function roll(op, known, start)
  if op.kind == 'X' then
    local stored = start
    if not known then stored = redis.call('HGET', op.c, 'start') end
    if not stored or tonumber(op.cur_start) > tonumber(stored) then
      redis.call('HSET', op.c, 'start', op.cur_start)
    end
  elseif op.kind == 'S' then
    redis.call('ZREMRANGEBYSCORE', op.l, '-inf', op.from)
  end
end

-- Puts `amount` at `time` into a sliding log with the rule every store keeps (the store docs,
-- "Windows"; `MAX_SLIDING_LOG` is prepended to every script from the Rust constant): a zero amount
-- is not logged; an amount at the millisecond of an entry already there joins it (one entry per
-- millisecond); past MAX_SLIDING_LOG entries the oldest merge into the next-oldest, which keeps
-- its later time and takes their sum (no amount is lost; usage can only be over-stated).
local function log_entry(op, time, amount)
  if #amount.l == 0 then return end
  local same = redis.call('ZRANGEBYSCORE', op.l, time, time)
  local m = same[#same]
  if m then
    local n, a = string.match(m, '^(%d+):(.*)$')
    redis.call('ZREM', op.l, m)
    redis.call('ZADD', op.l, time, n .. ':' .. D.str(D.add(D.parse(a), amount)))
    return -- the log did not grow: it is within the bound already
  end
  local n = redis.call('HINCRBY', op.c, 'n', 1)
  redis.call('ZADD', op.l, time, n .. ':' .. D.str(amount))
  local excess = redis.call('ZCARD', op.l) - MAX_SLIDING_LOG
  if excess <= 0 then return end
  -- The excess + 1 oldest entries (member, score, ...): the last of them takes the sum.
  local oldest = redis.call('ZRANGE', op.l, 0, excess, 'WITHSCORES')
  local sum = D.ZERO
  for i = 1, #oldest, 2 do sum = D.add(sum, D.parse(string.match(oldest[i], ':(.*)$'))) end
  local into, at = oldest[#oldest - 1], oldest[#oldest]
  redis.call('ZREMRANGEBYRANK', op.l, 0, excess)
  redis.call('ZADD', op.l, at, string.match(into, '^(%d+):') .. ':' .. D.str(sum))
end

-- Keeps a windowed counter alive at least `op.ttl` ms more, and its log exactly as long as the
-- counter: one lifetime for both. (A log recreated after it emptied used to get the short TTL of
-- a plain request while its counter kept a hold's long one; once the log expired, the counter's
-- sum had nothing left to subtract and reported usage long after the window.)
local function touch(op)
  if op.ttl <= 0 then return end
  local left = redis.call('PTTL', op.c)
  if left == -2 then return end
  if left < op.ttl then
    redis.call('PEXPIRE', op.c, op.ttl)
    left = op.ttl
  end
  -- Only a sliding counter has a log (a counter's key names its window kind).
  if op.kind == 'S' and redis.call('EXISTS', op.l) == 1 then redis.call('PEXPIRE', op.l, left) end
end

-- The stored tail of a chain: returns nil if `seq` follows it, else the tail.
local function chain_check(tails, chain, seq)
  local last = tonumber(redis.call('HGET', tails, chain) or '0')
  if tonumber(seq) == last + 1 then return nil end
  return last
end

-- Appends a record (after chain_check): its global number g, the record, its index entries.
-- Record fields: chain, seq, json, index count, then that many index keys (from KEYS).
local function append(rkey, seqkey, tails, rec)
  local g = redis.call('INCR', seqkey)
  redis.call('HSET', rkey, g, rec.json)
  redis.call('HSET', tails, rec.chain, rec.seq)
  for _, ix in ipairs(rec.index) do redis.call('ZADD', ix, g, g) end
  -- Its decision event: the JSON under its own key, its id in the queue of unacknowledged
  -- events at the next event position.
  if rec.ev_id ~= '' then
    local pos = redis.call('INCR', rec.ev_seq)
    redis.call('SET', rec.ev_key, rec.ev_json)
    redis.call('ZADD', rec.ev_queue, pos, rec.ev_id)
  end
  return g
end

-- A record, then its event (id, kind, JSON and three keys; an empty id: none).
local function read_record()
  local rec = { chain = arg(), seq = arg(), json = arg(), index = {} }
  local n = tonumber(arg())
  for i = 1, n do rec.index[i] = key() end
  rec.ev_id, rec.ev_kind, rec.ev_json = arg(), arg(), arg()
  if rec.ev_id ~= '' then rec.ev_key, rec.ev_queue, rec.ev_seq = key(), key(), key() end
  return rec
end
