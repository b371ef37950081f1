-- Records a single use (`SET NX` with a token of this call, so that the
-- call's own retry after a lost reply is still the first use).
--
-- KEYS[1]  once:<ledger>:<h>
-- ARGV[1]  this call's token
-- ARGV[2]  TTL (s)
-- Returns 1 for the first use, 0 for a use seen before.
local holder = redis.call('GET', KEYS[1])
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
  return 1
end
if holder == ARGV[1] then return 1 end
return 0
