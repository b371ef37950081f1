-- Records a logout as one of its user's. The user's expired records go
-- first; recording one again keeps the later `until`. Past the share, the
-- user's records become one: `revoked:sub` (their sessions authenticated
-- until the latest of them) for as long as the longest.
--
-- KEYS[1]  revoked:subject:<h>   the user's hash: field -> `until:at ms`
-- KEYS[2]  revoked:sub:<h>
-- ARGV[1]  the field: `s:<h>` a session, `i:<h>` a `sid`
-- ARGV[2]  until (Unix s)
-- ARGV[3]  when (Unix ms): the login for a session, the logout for a `sid`
-- ARGV[4]  the user's share (`limits.revocations_per_subject`)
-- ARGV[5]  the channel changes are announced on
-- ARGV[6]  now (Unix s, this instance's clock: the one `until` was counted by)
-- ARGV[7]  the announcement
-- Returns 0 when kept as a single record, 1 when the records became one.
local now = tonumber(ARGV[6])
local fields = redis.call('HGETALL', KEYS[1])
local count = 0
local until_s = tonumber(ARGV[2])
for i = 1, #fields, 2 do
  local u = tonumber(string.match(fields[i + 1], '^(%-?%d+):'))
  if (not u) or u <= now then
    redis.call('HDEL', KEYS[1], fields[i])
  elseif fields[i] == ARGV[1] then
    until_s = math.max(until_s, u)
  else
    count = count + 1
  end
end
if count < tonumber(ARGV[4]) then
  redis.call('HSET', KEYS[1], ARGV[1], string.format('%.0f', until_s) .. ':' .. ARGV[3])
  local ttl = math.max(until_s - now, 1)
  if redis.call('TTL', KEYS[1]) < ttl then redis.call('EXPIRE', KEYS[1], ttl) end
  redis.call('PUBLISH', ARGV[5], ARGV[7])
  return 0
end
local at_ms = tonumber(ARGV[3])
fields = redis.call('HGETALL', KEYS[1])
for i = 1, #fields, 2 do
  local u, l = string.match(fields[i + 1], '^(%-?%d+):(%-?%d+)$')
  if u then
    until_s = math.max(until_s, tonumber(u))
    at_ms = math.max(at_ms, tonumber(l))
  end
end
local earlier = tonumber(redis.call('GET', KEYS[2]) or '')
if earlier and earlier > at_ms then at_ms = earlier end
local ttl = math.max(until_s - now, redis.call('TTL', KEYS[2]), 1)
redis.call('SET', KEYS[2], string.format('%.0f', at_ms), 'EX', ttl)
redis.call('DEL', KEYS[1])
redis.call('PUBLISH', ARGV[5], '*')
return 1
