-- passgate: revoke an API key (the first revocation's time stays) or record its use (last_used
-- never moves back). Keys: the key hash, then the revoked or used hash. Args: op ('revoke' |
-- 'touch'), id, now. Returns {} for an unknown key, else {time} (revoke: its revoked_at).
local khash, target = key(), key()
local op, id, now = arg(), arg(), arg()
if redis.call('HEXISTS', khash, id) == 0 then return {} end
if op == 'revoke' then
  redis.call('HSETNX', target, id, now)
  return { redis.call('HGET', target, id) }
end
local cur = redis.call('HGET', target, id)
if (not cur) or tonumber(cur) < tonumber(now) then
  redis.call('HSET', target, id, now)
end
return { now }
