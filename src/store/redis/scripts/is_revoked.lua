-- The logout records that may name one session, read in one step, and
-- the epoch: the Redis-made value the logouts kept now began with. Made
-- by a login (see note_login.lua), it is missing after Redis lost its
-- data (a restart without persistence, a flush): then every cookie
-- session is refused until a login makes a new one, and a session
-- stamped with another epoch stays refused (its logout may have been lost).
--
-- KEYS[1]  revoked:session:<h>   kept by earlier versions
-- KEYS[2]  revoked:sub:<h>       the user's sessions authenticated until then
-- KEYS[3]  epoch
-- KEYS[4]  revoked:subject:<h>   the user's hash of single records
-- KEYS[5]  revoked:sid:<h>       when the session has a `sid`
-- ARGV[1]  the session's field in the hash (`s:<h>`)
-- ARGV[2]  its `sid`'s field (`i:<h>`), `-` without one
-- Returns {legacy, sub time, epoch, session field, sid, sid field}.
local sid = false
if KEYS[5] then sid = redis.call('GET', KEYS[5]) end
local fields = redis.call('HMGET', KEYS[4], ARGV[1], ARGV[2])
return {redis.call('GET', KEYS[1]), redis.call('GET', KEYS[2]), redis.call('GET', KEYS[3]),
  fields[1], sid, fields[2]}
