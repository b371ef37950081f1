-- A cookie-store login: makes the epoch from Redis's own clock (in ms)
-- if there is none, and keeps it for at least as long as this login's
-- session may live. Returns the epoch, which the session is stamped with.
--
-- KEYS[1]  epoch
-- ARGV[1]  the session lifetime (s)
local epoch = redis.call('GET', KEYS[1])
if not epoch then
  local time = redis.call('TIME')
  epoch = string.format('%.0f', tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000))
  redis.call('SET', KEYS[1], epoch, 'EX', ARGV[1])
elseif redis.call('TTL', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('EXPIRE', KEYS[1], ARGV[1])
end
return epoch
