-- Ends the sessions of an index and announces each one.
--
-- KEYS[1]  the index: a `sid` set, or a user's sorted set
-- KEYS[2]  the user's sorted set (mode `sid+sub`: only members in it end)
-- ARGV[1]  the prefix of session keys
-- ARGV[2]  mode: `sid`, `sid+sub`, or `sub` (those authenticated until ARGV[4])
-- ARGV[3]  the channel changes are announced on
-- ARGV[4]  the logout time (Unix ms; mode `sub`)
-- Returns how many sessions ended.
local session_prefix = ARGV[1]
local mode = ARGV[2]
local members
if mode == 'sub' then
  members = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[4])
else
  members = redis.call('SMEMBERS', KEYS[1])
end
local ended = 0
for _, member in ipairs(members) do
  if mode ~= 'sid+sub' or redis.call('ZSCORE', KEYS[2], member) then
    if redis.call('DEL', session_prefix .. member) == 1 then
      ended = ended + 1
      redis.call('PUBLISH', ARGV[3], 's:' .. member)
    end
    if mode == 'sub' then redis.call('ZREM', KEYS[1], member) else redis.call('SREM', KEYS[1], member) end
  end
end
return ended
