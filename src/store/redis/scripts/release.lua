-- Releases a refresh lease if it is still ours.
--
-- KEYS[1]  refresh:lock:<h>
-- ARGV[1]  the lease's token
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
