"""The Lua scripts of the Redis rate-limit store; each runs alone on the server (atomic).

A scope's hash ``{prefix}:rl2:<scope>`` holds

- ``r<second>`` / ``t<second>``: requests and tokens charged in that second;
- per holder (one gateway worker, a random id): ``x:<id>`` when its leases expire (ms, server
  clock; the holder renews it), ``p:<id>`` its requests in flight, ``m:<id>`` the money they
  reserved, ``u:<id>`` the real cost of its finished requests the registry has not recorded
  yet, ``k:<id>`` the cost it keeps counting for keys the registry does not hold;
- ``b`` / ``bx``: the key's spend as the registry last reported it, and until when (ms) it
  counts.

``{prefix}:rl2l:<scope>`` holds the leases: ``<holder>.<n>`` = ``r,<slot>,<nanos>`` for a
request in flight, ``u,<nanos>`` for its cost until recorded. Every change to a lease goes
through its field, so settling twice (a retry after a timeout) changes nothing the second
time, and recording a request whose settling has not arrived yet settles it. A holder whose
``x`` has passed is dead: the next charge deletes its fields and leases. Money is in USD
nanos.
"""

from __future__ import annotations

__all__ = ["CHARGE", "HEARTBEAT", "RECORDED", "RETIRE", "SETTLE"]

_COMMON = """
local t = redis.call('TIME')
local cur = tonumber(t[1])
local now = cur + tonumber(t[2]) / 1000000
local now_ms = math.floor(now * 1000)
local WINDOW, RING, KEEP = 60, 61, 62000
local function touch(key)
  if redis.call('PTTL', key) < KEEP then redis.call('PEXPIRE', key, KEEP) end
end
local function clamp(key, field, by)
  if redis.call('HINCRBY', key, field, by) < 0 then redis.call('HSET', key, field, 0) end
end
"""

CHARGE = (
    _COMMON
    + """
local tokens, n = tonumber(ARGV[1]), tonumber(ARGV[2])
local hold = #ARGV > 2 + 3 * n
local me, lease, ttl, slot, budget, spent, cost
if hold then
  local h = 3 + 3 * n
  me, lease, ttl = ARGV[h], ARGV[h + 1], tonumber(ARGV[h + 2])
  slot, budget = tonumber(ARGV[h + 3]), tonumber(ARGV[h + 4])
  spent, cost = tonumber(ARGV[h + 5]), tonumber(ARGV[h + 6])
end
local function load(key)
  local flat = redis.call('HGETALL', key)
  local r, tk, rs, ts, stale, holders, b, bx = {}, {}, 0, 0, {}, {}, 0, 0
  for i = 1, #flat, 2 do
    local f, v = flat[i], tonumber(flat[i + 1])
    local c = string.sub(f, 1, 1)
    if string.sub(f, 2, 2) == ':' then
      local id = string.sub(f, 3)
      local hd = holders[id]
      if hd == nil then
        hd = {x = 0, p = 0, m = 0, u = 0, k = 0}
        holders[id] = hd
      end
      hd[c] = v
    elseif f == 'b' then
      b = v
    elseif f == 'bx' then
      bx = v
    elseif c == 'r' or c == 't' then
      local bucket = tonumber(string.sub(f, 2))
      if bucket == nil then
      elseif bucket < cur - WINDOW then
        stale[#stale + 1] = f
      elseif c == 'r' then
        r[bucket] = v; rs = rs + v
      else
        tk[bucket] = v; ts = ts + v
      end
    end
  end
  if #stale > 0 then redis.call('HDEL', key, unpack(stale)) end
  return r, tk, rs, ts, holders, b, bx
end
local function reclaim(key, leases, holders)
  local names = nil
  for id, hd in pairs(holders) do
    if hd.x < now_ms and id ~= me then
      redis.call('HDEL', key, 'x:' .. id, 'p:' .. id, 'm:' .. id, 'u:' .. id, 'k:' .. id)
      names = names or redis.call('HKEYS', leases)
      local prefix, gone = id .. '.', {}
      for _, name in ipairs(names) do
        if string.sub(name, 1, #prefix) == prefix then gone[#gone + 1] = name end
        if #gone >= 1000 then redis.call('HDEL', leases, unpack(gone)); gone = {} end
      end
      if #gone > 0 then redis.call('HDEL', leases, unpack(gone)) end
      holders[id] = nil
    end
  end
end
local function reset(ring)
  for b = cur, cur - WINDOW, -1 do
    if (ring[b] or 0) > 0 then return math.floor((b + RING - now) * 1000) end
  end
  return 0
end
local function retry(ring, need)
  local freed = 0
  for b = cur - WINDOW, cur do
    freed = freed + (ring[b] or 0)
    if freed >= need then return math.floor((b + RING - now) * 1000) end
  end
  return RING * 1000
end
local refused, req_best, tok_best, never = nil, nil, nil, false
for i = 1, n do
  local rpm, tpm, par = tonumber(ARGV[3 * i]), tonumber(ARGV[3 * i + 1]), tonumber(ARGV[3 * i + 2])
  local r, tk, rs, ts, holders, b, bx = load(KEYS[i])
  if hold and i == 1 then
    reclaim(KEYS[1], KEYS[n + 1], holders)
    local inflight, reserved, unrecorded = 0, 0, 0
    for _, hd in pairs(holders) do
      inflight = inflight + hd.p
      reserved = reserved + hd.m
      unrecorded = unrecorded + hd.u + hd.k
    end
    if slot > 0 and par >= 0 and inflight + 1 > par then
      refused = {i, 3, par, inflight, nil, 1}
    elseif budget >= 0 then
      if bx > now_ms and b > spent then spent = b end
      spent = spent + unrecorded
      if spent + reserved + cost > budget then
        refused = {i, 4, budget, spent + reserved, nil, cost}
        never = spent + cost > budget
      end
    end
  end
  if rpm >= 0 then
    local left = rpm - rs - 1
    if req_best == nil or left < req_best[1] then req_best = {left, rpm, rs, r} end
    if left < 0 and refused == nil then refused = {i, 1, rpm, rs, r, 1} end
  end
  if tpm >= 0 then
    local left = tpm - ts - tokens
    if tok_best == nil or left < tok_best[1] then tok_best = {left, tpm, ts, tk} end
    if left < 0 and refused == nil then refused = {i, 2, tpm, ts, tk, tokens} end
  end
end
if refused == nil then
  for i = 1, n do
    local key = KEYS[i]
    redis.call('HINCRBY', key, 'r' .. cur, 1)
    if tokens > 0 then redis.call('HINCRBY', key, 't' .. cur, tokens) end
    touch(key)
  end
  if hold then
    local key, leases = KEYS[1], KEYS[n + 1]
    if slot > 0 then redis.call('HINCRBY', key, 'p:' .. me, slot) end
    if cost > 0 then redis.call('HINCRBY', key, 'm:' .. me, cost) end
    redis.call('HSET', key, 'x:' .. me, now_ms + ttl)
    redis.call('HSET', leases, lease, 'r,' .. slot .. ',' .. cost)
    touch(leases)
  end
  if req_best then req_best[4][cur] = (req_best[4][cur] or 0) + 1 end
  if tok_best then tok_best[4][cur] = (tok_best[4][cur] or 0) + tokens end
end
local out = {refused == nil and 1 or 0, cur, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1}
if req_best then
  out[3] = req_best[2]
  out[4] = refused == nil and req_best[1] or (req_best[2] - req_best[3])
  out[5] = reset(req_best[4])
end
if tok_best then
  out[6] = tok_best[2]
  out[7] = refused == nil and tok_best[1] or (tok_best[2] - tok_best[3])
  out[8] = reset(tok_best[4])
end
if refused then
  out[9], out[10], out[11], out[12] = refused[1], refused[2], refused[3], refused[4]
  if refused[2] == 3 then
    out[13] = 1000
  elseif refused[2] == 4 then
    out[13] = never and -1 or 1000
  elseif refused[6] > refused[3] then
    out[13] = -1
  else
    out[13] = retry(refused[5], refused[4] + refused[6] - refused[3])
  end
end
return out
"""
)

SETTLE = (
    _COMMON
    + """
local bucket, delta, n = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
if delta ~= 0 and bucket >= 0 then
  for i = 1, n do
    local key = KEYS[i]
    if cur - bucket <= WINDOW then
      clamp(key, 't' .. bucket, delta)
    elseif delta > 0 then
      redis.call('HINCRBY', key, 't' .. cur, delta)
    end
    touch(key)
  end
end
if #ARGV > 3 then
  local me, lease, cost, ttl = ARGV[4], ARGV[5], tonumber(ARGV[6]), tonumber(ARGV[7])
  local key, leases = KEYS[1], KEYS[n + 1]
  local value = redis.call('HGET', leases, lease)
  if value then
    local slot, reserved = string.match(value, '^r,(%d+),(%d+)$')
    if slot then
      if tonumber(slot) > 0 then clamp(key, 'p:' .. me, -tonumber(slot)) end
      if tonumber(reserved) > 0 then clamp(key, 'm:' .. me, -tonumber(reserved)) end
      if cost > 0 then
        redis.call('HSET', leases, lease, 'u,' .. cost)
        redis.call('HINCRBY', key, 'u:' .. me, cost)
      else
        redis.call('HDEL', leases, lease)
      end
    end
  end
  redis.call('HSET', key, 'x:' .. me, now_ms + ttl)
  touch(key)
  touch(leases)
end
return 1
"""
)

RECORDED = (
    _COMMON
    + """
local me, ttl = ARGV[1], tonumber(ARGV[2])
local at = 3
for i = 1, #KEYS, 2 do
  local key, leases = KEYS[i], KEYS[i + 1]
  local base, done, kept = tonumber(ARGV[at]), tonumber(ARGV[at + 1]), tonumber(ARGV[at + 2])
  at = at + 3
  for j = 1, done + kept do
    local lease, cost = ARGV[at], tonumber(ARGV[at + 1])
    at = at + 2
    local value = redis.call('HGET', leases, lease) or ''
    local amount = string.match(value, '^u,(%d+)$')
    local slot, reserved = string.match(value, '^r,(%d+),(%d+)$')
    if amount then
      clamp(key, 'u:' .. me, -tonumber(amount))
    elseif slot then  -- its settling has not arrived (a retry is on its way): do it here
      if tonumber(slot) > 0 then clamp(key, 'p:' .. me, -tonumber(slot)) end
      if tonumber(reserved) > 0 then clamp(key, 'm:' .. me, -tonumber(reserved)) end
      amount = cost
    end
    if amount then
      redis.call('HDEL', leases, lease)
      if j > done then redis.call('HINCRBY', key, 'k:' .. me, amount) end
    end
  end
  if base >= 0 then
    local b = tonumber(redis.call('HGET', key, 'b') or '-1')
    local bx = tonumber(redis.call('HGET', key, 'bx') or '0')
    if base >= b or bx <= now_ms then
      redis.call('HSET', key, 'b', base, 'bx', now_ms + 5000)
    end
  end
  if done + kept > 0 then redis.call('HSET', key, 'x:' .. me, now_ms + ttl) end
  touch(key)
end
return 1
"""
)

HEARTBEAT = (
    _COMMON
    + """
local me, ttl = ARGV[1], tonumber(ARGV[2])
for i = 1, #KEYS, 2 do
  redis.call('HSET', KEYS[i], 'x:' .. me, now_ms + ttl)
  touch(KEYS[i])
  touch(KEYS[i + 1])
end
return 1
"""
)

RETIRE = """
local me = ARGV[1]
for i = 1, #KEYS, 2 do
  local key, leases = KEYS[i], KEYS[i + 1]
  redis.call('HDEL', key, 'x:' .. me, 'p:' .. me, 'm:' .. me, 'u:' .. me, 'k:' .. me)
  local prefix, gone = me .. '.', {}
  for _, name in ipairs(redis.call('HKEYS', leases)) do
    if string.sub(name, 1, #prefix) == prefix then gone[#gone + 1] = name end
    if #gone >= 1000 then redis.call('HDEL', leases, unpack(gone)); gone = {} end
  end
  if #gone > 0 then redis.call('HDEL', leases, unpack(gone)) end
end
return 1
"""
