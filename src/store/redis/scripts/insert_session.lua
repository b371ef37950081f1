-- Stores a new session: the session itself, the user's index (sorted by
-- login time, capped: the user's oldest sessions beyond the cap end) and
-- the `sid` index. Members of the user's index whose session is gone
-- (expired, logged out) are dropped first.
--
-- KEYS[1]  session:<h>     the session's key
-- KEYS[2]  subject:<h>     the user's sessions (sorted set, by login ms)
-- KEYS[3]  sid:<h>         the sessions with the session's `sid` (set);
--                          KEYS[2] again when it has none
-- ARGV[1]  the prefix of session keys (`<key_prefix>session:`)
-- ARGV[2]  the session, sealed
-- ARGV[3]  its TTL (s)
-- ARGV[4]  its member in the indexes (the id's digest)
-- ARGV[5]  its login time (Unix ms)
-- ARGV[6]  `limits.sessions_per_subject`
-- ARGV[7]  the indexes' TTL (the session lifetime, s)
-- ARGV[8]  `1` when the session has a `sid`
-- ARGV[9]  the channel changes are announced on
-- Returns how many of the user's sessions were ended to make room.
local session_prefix = ARGV[1]
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
for _, member in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  if redis.call('EXISTS', session_prefix .. member) == 0 then
    redis.call('ZREM', KEYS[2], member)
  end
end
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[4])
local ended = 0
while redis.call('ZCARD', KEYS[2]) > tonumber(ARGV[6]) do
  -- The user's oldest, never the session just stored (instances' clocks differ).
  local oldest = redis.call('ZRANGE', KEYS[2], 0, 1)
  local victim = oldest[1]
  if victim == ARGV[4] then victim = oldest[2] end
  redis.call('ZREM', KEYS[2], victim)
  redis.call('DEL', session_prefix .. victim)
  redis.call('PUBLISH', ARGV[9], 's:' .. victim)
  ended = ended + 1
end
local ttl = tonumber(ARGV[7])
if redis.call('TTL', KEYS[2]) < ttl then redis.call('EXPIRE', KEYS[2], ttl) end
if ARGV[8] == '1' then
  redis.call('SADD', KEYS[3], ARGV[4])
  if redis.call('TTL', KEYS[3]) < ttl then redis.call('EXPIRE', KEYS[3], ttl) end
end
return ended
