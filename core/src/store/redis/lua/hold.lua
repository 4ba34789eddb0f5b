-- passgate: settle, release or expire a hold, atomically with its record (Store::hold_resolve).
-- Returns {'ok'} | {'unknown'} | {'notopen', state} | {'rejected', usage...} | {'chain', last} |
-- {'overflow'}. With enforce '0' an increase past a bound is recorded (a settle over the cap).
local rkey, seqkey, tails, holds, hkey = key(), key(), key(), key(), key()
local now = arg()
local state_name, hold_id, retain = arg(), arg(), tonumber(arg())
local enforce = arg() == '1'
local rec = read_record()
local n = tonumber(arg())
local ops = {}
for i = 1, n do
  local op = read_op()
  op.final = D.parse(arg())
  op.placed_start = arg()          -- fixed: the start of the reservation's window
  op.inside = arg() == '1'         -- sliding: the reservation is still inside the window
  op.placed = arg()                -- when it was counted
  ops[i] = op
end

local st = redis.call('HGET', hkey, 'state')
if not st then return { 'unknown' } end
if st ~= 'open' then return { 'notopen', st } end

-- Two ops of one hold may name one counter: bounds and writes keep a running total per counter.
local used, over, grown = {}, false, {}
for i, op in ipairs(ops) do
  used[i] = usage(op)
  op.delta = D.sub(op.final, op.amount)
  if D.cmp(op.delta, D.ZERO) > 0 then
    grown[op.c] = D.add(grown[op.c] or D.ZERO, op.delta)
    local total = D.add(used[i], grown[op.c])
    if D.cmp(total, op.max) > 0 then over = true end
    if D.too_big(total) then return { 'overflow' } end
  end
end
if over and enforce then
  local out = { 'rejected' }
  for i = 1, n do out[i + 1] = D.str(used[i]) end
  return out
end
local last = chain_check(tails, rec.chain, rec.seq)
if last then return { 'chain', tostring(last) } end

-- Writes: each counter changes by (final - reserved) where the reservation was counted (a
-- counter that no longer exists, reset, is left alone).
local running = {}
for i, op in ipairs(ops) do
  if redis.call('HEXISTS', op.c, 'sum') == 1 then
    local positive = D.cmp(op.delta, D.ZERO) > 0
    local total = running[op.c] or used[i]
    roll(op)
    local placed_current = false
    if op.kind == 'X' then
      placed_current = tonumber(redis.call('HGET', op.c, 'start')) == tonumber(op.placed_start)
    end
    if op.kind == 'F' or (op.kind == 'X' and (placed_current or positive)) then
      total = D.max(D.add(total, op.delta), D.ZERO)
    elseif op.kind == 'S' and (op.inside or positive) then
      total = D.add(total, op.delta)
      log_entry(op, op.inside and op.placed or now, op.delta)
    end
    redis.call('HSET', op.c, 'sum', D.str(total))
    running[op.c] = total
    touch(op)
  end
end
redis.call('HSET', hkey, 'state', state_name)
redis.call('ZREM', holds, hold_id)
if retain > 0 then redis.call('PEXPIRE', hkey, retain) end
append(rkey, seqkey, tails, rec)
return { 'ok' }
