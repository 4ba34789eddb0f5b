-- passgate: list (ARGV 'list') or delete (ARGV 'reset') the counters matching a filter.
-- Filter fields are '0' (any) or '1' followed by the value. The counter keys are derived from the
-- index's ids and the prefix (same hash tag: same slot). Entries whose counter has expired are
-- dropped from the index. list returns id, ns, con, scope, kind, size, usage per counter; reset
-- returns the number deleted.
local ix = key()
local mode, prefix, now = arg(), arg(), tonumber(arg())
local f = {}
for i = 1, 3 do
  local v = arg()
  if string.sub(v, 1, 1) == '1' then f[i] = string.sub(v, 2) end
end
local out, deleted = {}, 0
for _, id in ipairs(redis.call('SMEMBERS', ix)) do
  local c, l = prefix .. ':c:' .. id, prefix .. ':l:' .. id
  local v = redis.call('HMGET', c, 'ns', 'con', 'scope', 'kind', 'size')
  if not v[1] then
    redis.call('SREM', ix, id)
  elseif (not f[1] or f[1] == v[1]) and (not f[2] or f[2] == v[2]) and (not f[3] or f[3] == v[3]) then
    if mode == 'reset' then
      redis.call('DEL', c, l)
      redis.call('SREM', ix, id)
      deleted = deleted + 1
    else
      local size = tonumber(v[5])
      local op = { c = c, l = l, kind = v[4] }
      if op.kind == 'X' then
        local r = math.fmod(now, size)
        if r < 0 then r = r + size end
        op.cur_start = string.format('%d', now - r)
      elseif op.kind == 'S' then
        op.from = string.format('%d', now - size)
      end
      for _, x in ipairs({ id, v[1], v[2], v[3], v[4], v[5], D.str(usage(op)) }) do
        out[#out + 1] = x
      end
    end
  end
end
if mode == 'reset' then return { tostring(deleted) } end
return out
