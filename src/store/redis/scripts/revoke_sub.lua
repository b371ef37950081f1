-- Records a logout of a user by `sub`: keeps the latest logout time;
-- announces a change to every session.
--
-- KEYS[1]  revoked:sub:<h>
-- ARGV[1]  the logout time (Unix ms)
-- ARGV[2]  TTL (s)
-- ARGV[3]  the channel changes are announced on
local earlier = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > earlier then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
end
redis.call('PUBLISH', ARGV[3], '*')
return 1
