-- Claims a refresh in one step: the shared result if there is one, else
-- the lease if it is free (or already ours: a retry after a lost reply),
-- else busy.
--
-- KEYS[1]  refresh:result:<h>
-- KEYS[2]  refresh:lock:<h>
-- ARGV[1]  the lease's token
-- ARGV[2]  the lease (ms)
-- Returns {'result', sealed session} | {'won', false} | {'busy', false}.
local done = redis.call('GET', KEYS[1])
if done then return {'result', done} end
local holder = redis.call('GET', KEYS[2])
if not holder then
  redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
  return {'won', false}
end
if holder == ARGV[1] then return {'won', false} end
return {'busy', false}
