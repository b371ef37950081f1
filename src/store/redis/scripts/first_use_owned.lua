-- first_use.lua within an owner's share: what the owner holds that
-- expired goes first; past the share, nothing is recorded (that owner is
-- refused, nobody else).
--
-- KEYS[1]  once:<ledger>:<h>    the value's key
-- KEYS[2]  owner:<ledger>:<h>   what the owner holds, by expiry (sorted set)
-- ARGV[1]  this call's token
-- ARGV[2]  TTL (s)
-- ARGV[3]  the value's expiry (Unix s)
-- ARGV[4]  now (Unix s, this instance's clock)
-- ARGV[5]  the owner's share
-- Returns 1 for the first use, 0 for a use seen before, -1 past the share.
local holder = redis.call('GET', KEYS[1])
if holder then
  if holder == ARGV[1] then return 1 end
  return 0
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[4])
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[5]) then return -1 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], KEYS[1])
if redis.call('TTL', KEYS[2]) < tonumber(ARGV[2]) then redis.call('EXPIRE', KEYS[2], ARGV[2]) end
return 1
