-- Extends a refresh lease if it is still ours: its holder is at work.
--
-- KEYS[1]  refresh:lock:<h>
-- ARGV[1]  the lease's token
-- ARGV[2]  the lease (ms)
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
