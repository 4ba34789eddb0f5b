-- passgate: one reservation, atomically (Store::commit). Checks first, writes after: a script is
-- not rolled back on error, so nothing is written until every check has passed.
-- Returns {'ok'} | {'stale'} | {'replay', json} | {'approval', state} | {'nonce'} | {'rejected', usage...} |
--         {'chain', last seq} | {'overflow'}.
local rkey, seqkey, tails, nsix, scix = key(), key(), key(), key(), key()
local now = arg()
local enforce = arg() == '1'

-- The trust state the decision was made under (Commit::guard): '' / 0 ids when not checked.
local revkey, igkey, polkey = key(), key(), key()
local g_issuers, g_policy = arg(), arg()
local n_rev = tonumber(arg())
local rev_ids = {}
for i = 1, n_rev do rev_ids[i] = arg() end

local ikey = key()
local has_idem = arg() == '1'
local idem_json, idem_exp, idem_ttl = arg(), arg(), tonumber(arg())

local akey = key()
local use_token, used_state, use_fp = arg(), arg(), arg()

local nkey = key()
local nonce_exp, nonce_ttl = tonumber(arg()), tonumber(arg())

local hkey, holds = key(), key()
local hold_json, hold_id, hold_exp = arg(), arg(), arg()

local qkey = key()
local q_json, q_state, q_ttl, q_fp = arg(), arg(), tonumber(arg()), arg()

local rec = read_record()

local n = tonumber(arg())
local ops = {}
for i = 1, n do
  local op = read_op()
  op.ns, op.con, op.scope, op.size, op.m_ns, op.m_sc = arg(), arg(), arg(), arg(), arg(), arg()
  op.expect = arg() -- the usage the decision was made on (Commit::expect_usage), or ''
  ops[i] = op
end

-- 0. The guard, before anything else (the idempotency key included).
if g_policy ~= '' and tostring(redis.call('HGET', polkey, 'version') or '0') ~= g_policy then
  return { 'stale' }
end
if g_issuers ~= '' and tostring(redis.call('GET', igkey) or '0') ~= g_issuers then
  return { 'stale' }
end
for _, id in ipairs(rev_ids) do
  if redis.call('SISMEMBER', revkey, id) == 1 then return { 'stale' } end
end

-- 1. The idempotency key, before anything else.
if has_idem then
  local v = redis.call('HMGET', ikey, 'exp', 'json')
  if v[1] and tonumber(v[1]) > tonumber(now) then return { 'replay', v[2] } end
end

-- 1b. The proof-of-possession nonce this request uses up (its value: until when it is held).
if nonce_exp > 0 then
  local v = redis.call('GET', nkey)
  if v and tonumber(v) > tonumber(now) then return { 'nonce' } end
end

-- 2. The approval this request uses up.
if use_token ~= '' then
  local v = redis.call('HMGET', akey, 'sname', 'token', 'texp', 'fp')
  local usable = v[1] == 'approved' and v[2] == use_token and tonumber(v[3]) > tonumber(now)
    and v[4] == use_fp
  if not usable then return { 'approval', v[1] or 'unknown' } end
end

-- 3. Every bound, then (4) the chain, then (5) every new total, before any write.
local used, over, moved = {}, false, false
for i, op in ipairs(ops) do
  used[i] = usage(op)
  if D.cmp(D.add(used[i], D.max(op.need, op.amount)), op.max) > 0 then over = true end
  if op.expect ~= '' and D.cmp(used[i], D.parse(op.expect)) ~= 0 then moved = true end
end
if (enforce and over) or moved then
  local out = { 'rejected' }
  for i = 1, n do out[i + 1] = D.str(used[i]) end
  return out
end
local last = chain_check(tails, rec.chain, rec.seq)
if last then return { 'chain', tostring(last) } end
local totals = {}
for i, op in ipairs(ops) do
  totals[i] = D.add(used[i], op.amount)
  if D.too_big(totals[i]) then return { 'overflow' } end
end

-- Writes. What usage() read of a counter is still what it holds: nothing was written since, and
-- no two ops of a call are one counter (the client refuses that before it calls).
for i, op in ipairs(ops) do
  local has_sum, start = op.stored.has_sum, op.stored.start
  if not has_sum then
    redis.call('HSET', op.c, 'ns', op.ns, 'con', op.con, 'scope', op.scope, 'kind', op.kind,
      'size', op.size, 'start', op.cur_start)
    redis.call('ZADD', nsix, 0, op.m_ns)
    redis.call('ZADD', scix, 0, op.m_sc)
    start = op.cur_start
  end
  roll(op, true, start)
  redis.call('HSET', op.c, 'sum', D.str(totals[i]))
  if op.kind == 'S' and #op.amount.l > 0 then log_entry(op, now, op.amount) end
  touch(op)
end
append(rkey, seqkey, tails, rec)
if nonce_exp > 0 then
  redis.call('SET', nkey, tostring(nonce_exp), 'PX', nonce_ttl)
end
if has_idem and idem_ttl > 0 then
  redis.call('HSET', ikey, 'exp', idem_exp, 'json', idem_json)
  redis.call('PEXPIRE', ikey, idem_ttl)
end
if hold_json ~= '' then
  redis.call('HSET', hkey, 'rec', hold_json, 'state', 'open')
  redis.call('ZADD', holds, hold_exp, hold_id)
end
if q_json ~= '' then
  redis.call('HSET', qkey, 'rec', q_json, 'state', q_state, 'sname', 'pending', 'fp', q_fp)
  redis.call('PEXPIRE', qkey, q_ttl)
end
if use_token ~= '' then
  redis.call('HSET', akey, 'state', used_state, 'sname', 'used')
end
return { 'ok' }
