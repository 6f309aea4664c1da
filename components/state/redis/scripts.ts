// Lua scripts of `state.redis`. The layout is daprd's: each key is a hash with `data` (the value bytes) and
// `version` (an integer incremented by every write, whose decimal form is the ETag), so daprd and Pillion can
// share one Redis.

/** Why a write was refused; the script answers `{operationIndex, reason}` instead of applying anything. */
export type WriteRefusal = 'missing' | 'mismatch' | 'exists';

/** Arguments each write operation occupies in ARGV, after its key in KEYS. */
export const WRITE_ARGS_PER_OPERATION = 5;

/**
 * One or more writes applied all-or-nothing. KEYS[i] is the key of operation i, and its ARGV slots are:
 * kind ('u' upsert, 'd' delete), etag ('' for none), first-write ('1' or '0'), TTL seconds ('0' for none), value.
 * Every condition is checked against the state the earlier operations would leave before anything is written,
 * so a refusal leaves Redis untouched. A key holding another Redis type counts as absent and is replaced, as
 * daprd does. Answers 0 when applied.
 */
export const WRITE_SCRIPT = `
local slots = ${WRITE_ARGS_PER_OPERATION}
local staged = {}
local foreign = {}
for i = 1, #KEYS do
  local key = KEYS[i]
  local base = (i - 1) * slots
  local current = staged[key]
  if current == nil then
    current = redis.pcall('HGET', key, 'version')
    if type(current) == 'table' then
      foreign[key] = true
      current = false
    end
  end
  local kind, etag = ARGV[base + 1], ARGV[base + 2]
  if etag ~= '' then
    if not current then return {i, 'missing'} end
    if current ~= etag then return {i, 'mismatch'} end
  elseif kind == 'u' and ARGV[base + 3] == '1' and current then
    return {i, 'exists'}
  end
  if kind == 'u' then
    staged[key] = string.format('%d', (tonumber(current) or 0) + 1)
  else
    staged[key] = false
  end
end
for i = 1, #KEYS do
  local key = KEYS[i]
  local base = (i - 1) * slots
  if foreign[key] then
    redis.call('DEL', key)
    foreign[key] = nil
  end
  if ARGV[base + 1] == 'd' then
    redis.call('DEL', key)
  else
    redis.call('HSET', key, 'data', ARGV[base + 5])
    redis.call('HINCRBY', key, 'version', 1)
    local ttl = tonumber(ARGV[base + 4])
    if ttl > 0 then
      redis.call('EXPIRE', key, ttl)
    else
      redis.call('PERSIST', key)
    end
  end
end
return 0
`;

/** `{data, version, pttl}` of KEYS[1]; data and version are nil when the key does not exist. */
export const READ_SCRIPT = `
local entry = redis.call('HMGET', KEYS[1], 'data', 'version')
return {entry[1], entry[2], redis.call('PTTL', KEYS[1])}
`;
