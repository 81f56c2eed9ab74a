import type { Redis } from "ioredis";
import { intervalsOf, tokenCostMs, type LineLimits } from "./limits";
import { SLOT_LEASE_MS, type GovernorStore, type Reservation, type WaitReason } from "./store";

/**
 * The lines in Redis (queue mode): every worker reserves from the same pacing marks, so a limit holds across all
 * of them. Each operation is one Lua script (atomic, one round trip), timed by Redis's clock. Keys:
 * `<prefix>:line:<line key>` (hash: req, tok — the next start of the request and token pacing —, pause) and
 * `<prefix>:slots:<line key>` (sorted set of concurrency leases by expiry). Keys expire once idle.
 */

const NOW = `local t = redis.call('TIME'); local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

// KEYS: line hashes. ARGV: per line requestMs, tokenStepMs. Returns {waitMs, blocking index, reason, marks…}.
const RESERVE = `${NOW}
local start = now; local blocker = 0; local reason = ''
for i, key in ipairs(KEYS) do
  local reqMs = tonumber(ARGV[i * 2 - 1]); local tokStep = tonumber(ARGV[i * 2])
  local v = redis.call('HMGET', key, 'req', 'tok', 'pause')
  local req = tonumber(v[1]) or 0; local tok = tonumber(v[2]) or 0; local pause = tonumber(v[3]) or 0
  if pause > start then start = pause; blocker = i; reason = 'paused' end
  if reqMs > 0 and req > start then start = req; blocker = i; reason = 'requests' end
  if tokStep > 0 and tok > start then start = tok; blocker = i; reason = 'tokens' end
end
local marks = {}
for i, key in ipairs(KEYS) do
  local reqMs = tonumber(ARGV[i * 2 - 1]); local tokStep = tonumber(ARGV[i * 2])
  local req = -1; local tok = -1
  if reqMs > 0 then req = start + reqMs; redis.call('HSET', key, 'req', tostring(req)) end
  if tokStep > 0 then tok = start + tokStep; redis.call('HSET', key, 'tok', tostring(tok)) end
  if reqMs > 0 or tokStep > 0 then redis.call('PEXPIRE', key, math.floor(start - now + 120000)) end
  marks[#marks + 1] = tostring(req); marks[#marks + 1] = tostring(tok)
end
return {tostring(start - now), blocker, reason, unpack(marks)}`;

// KEYS: line hashes. ARGV: per line req mark, req step, tok mark, tok step (-1: none). Undoes marks nobody moved on.
const REFUND = `for i, key in ipairs(KEYS) do
  local base = (i - 1) * 4
  local req = ARGV[base + 1]; local tok = ARGV[base + 3]
  if req ~= '-1' and redis.call('HGET', key, 'req') == req then redis.call('HSET', key, 'req', tostring(tonumber(req) - tonumber(ARGV[base + 2]))) end
  if tok ~= '-1' and redis.call('HGET', key, 'tok') == tok then redis.call('HSET', key, 'tok', tostring(tonumber(tok) - tonumber(ARGV[base + 4]))) end
end
return 1`;

// KEYS: line hashes. ARGV: per line the token pacing correction in ms.
const SETTLE = `for i, key in ipairs(KEYS) do
  local delta = tonumber(ARGV[i])
  if delta ~= 0 and redis.call('EXISTS', key) == 1 then
    local tok = tonumber(redis.call('HGET', key, 'tok') or '0')
    redis.call('HSET', key, 'tok', tostring(tok + delta))
  end
end
return 1`;

// KEYS[1]: line hash. ARGV[1]: pause ms.
const PAUSE = `${NOW}
local untilMs = now + tonumber(ARGV[1])
local pause = tonumber(redis.call('HGET', KEYS[1], 'pause') or '0')
if untilMs > pause then redis.call('HSET', KEYS[1], 'pause', tostring(untilMs)) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < untilMs - now + 120000 then redis.call('PEXPIRE', KEYS[1], math.floor(untilMs - now + 120000)) end
return 1`;

// KEYS: line hashes. Returns {ms, index} of the longest pause still running.
const PAUSED_FOR = `${NOW}
local best = 0; local which = 0
for i, key in ipairs(KEYS) do
  local pause = tonumber(redis.call('HGET', key, 'pause') or '0')
  if pause - now > best then best = pause - now; which = i end
end
return {tostring(best), which}`;

// KEYS: slot sets. ARGV: lease id, lease ms, then per key its maximum. All or none.
const TAKE_SLOTS = `${NOW}
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  if redis.call('ZSCORE', key, ARGV[1]) == false and redis.call('ZCARD', key) >= tonumber(ARGV[i + 2]) then return i end
end
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, now + tonumber(ARGV[2]), ARGV[1])
  redis.call('PEXPIRE', key, tonumber(ARGV[2]) * 2)
end
return 0`;

// KEYS: slot sets. ARGV: lease id, lease ms.
const RENEW_SLOTS = `${NOW}
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, 'XX', now + tonumber(ARGV[2]), ARGV[1])
  redis.call('PEXPIRE', key, tonumber(ARGV[2]) * 2)
end
return 1`;

type Scripts = {
  govReserve(...args: Array<string | number>): Promise<Array<string | number>>;
  govRefund(...args: Array<string | number>): Promise<number>;
  govSettle(...args: Array<string | number>): Promise<number>;
  govPause(...args: Array<string | number>): Promise<number>;
  govPausedFor(...args: Array<string | number>): Promise<Array<string | number>>;
  govTakeSlots(...args: Array<string | number>): Promise<number>;
  govRenewSlots(...args: Array<string | number>): Promise<number>;
};

export class RedisGovernorStore implements GovernorStore {
  private readonly redis: Redis & Scripts;

  constructor(
    redis: Redis,
    private readonly prefix: string,
    private readonly ownsConnection = false,
  ) {
    const scripts: Array<[keyof Scripts, string]> = [
      ["govReserve", RESERVE],
      ["govRefund", REFUND],
      ["govSettle", SETTLE],
      ["govPause", PAUSE],
      ["govPausedFor", PAUSED_FOR],
      ["govTakeSlots", TAKE_SLOTS],
      ["govRenewSlots", RENEW_SLOTS],
    ];
    for (const [name, lua] of scripts) if (!(name in redis)) redis.defineCommand(name, { lua });
    this.redis = redis as Redis & Scripts;
  }

  private lineKey = (key: string) => `${this.prefix}:line:${key}`;
  private slotKey = (key: string) => `${this.prefix}:slots:${key}`;

  async takeSlots(lines: readonly LineLimits[], leaseId: string) {
    const limited = lines.filter((l) => l.maxConcurrent);
    if (!limited.length) return { ok: true as const };
    const full = await this.redis.govTakeSlots(limited.length, ...limited.map((l) => this.slotKey(l.key)), leaseId, SLOT_LEASE_MS, ...limited.map((l) => l.maxConcurrent!));
    return full === 0 ? { ok: true as const } : { ok: false as const, key: limited[Number(full) - 1].key };
  }

  async releaseSlots(lines: readonly LineLimits[], leaseId: string) {
    const limited = lines.filter((l) => l.maxConcurrent);
    if (!limited.length) return;
    const pipeline = this.redis.pipeline();
    for (const line of limited) pipeline.zrem(this.slotKey(line.key), leaseId);
    await pipeline.exec();
  }

  async renewSlots(lines: readonly LineLimits[], leaseId: string) {
    const limited = lines.filter((l) => l.maxConcurrent);
    if (limited.length) await this.redis.govRenewSlots(limited.length, ...limited.map((l) => this.slotKey(l.key)), leaseId, SLOT_LEASE_MS);
  }

  async reserve(lines: readonly LineLimits[], tokens: number): Promise<Reservation> {
    const args = lines.flatMap((line) => [intervalsOf(line).requestMs, tokenCostMs(line, tokens)]);
    const reply = await this.redis.govReserve(lines.length, ...lines.map((l) => this.lineKey(l.key)), ...args);
    const [wait, blocker, reason] = reply;
    const marks: Reservation["marks"] = lines.map((line, i) => {
      const req = Number(reply[3 + i * 2]);
      const tok = Number(reply[4 + i * 2]);
      return {
        key: line.key,
        ...(req >= 0 ? { req, reqStep: args[i * 2] } : {}),
        ...(tok >= 0 ? { tok, tokStep: args[i * 2 + 1] } : {}),
      };
    });
    const index = Number(blocker);
    return { waitMs: Math.max(0, Number(wait)), ...(index > 0 ? { blockedBy: { key: lines[index - 1].key, reason: String(reason) as WaitReason } } : {}), marks };
  }

  async refund(reservation: Reservation) {
    const marks = reservation.marks.filter((m) => m.req !== undefined || m.tok !== undefined);
    if (!marks.length) return;
    await this.redis.govRefund(
      marks.length,
      ...marks.map((m) => this.lineKey(m.key)),
      ...marks.flatMap((m) => [m.req !== undefined ? String(m.req) : "-1", m.reqStep ?? 0, m.tok !== undefined ? String(m.tok) : "-1", m.tokStep ?? 0]),
    );
  }

  async settle(lines: readonly LineLimits[], tokenDelta: number) {
    const paced = lines.filter((l) => l.tpm);
    if (!paced.length || !tokenDelta) return;
    await this.redis.govSettle(paced.length, ...paced.map((l) => this.lineKey(l.key)), ...paced.map((l) => tokenDelta * intervalsOf(l).tokenMs));
  }

  async pause(key: string, ms: number) {
    await this.redis.govPause(1, this.lineKey(key), Math.ceil(ms));
  }

  async pausedFor(lines: readonly LineLimits[]) {
    const [ms, which] = await this.redis.govPausedFor(lines.length, ...lines.map((l) => this.lineKey(l.key)));
    const index = Number(which);
    return index > 0 ? { ms: Number(ms), key: lines[index - 1].key } : { ms: 0 };
  }

  async close() {
    if (this.ownsConnection) this.redis.disconnect();
  }
}
