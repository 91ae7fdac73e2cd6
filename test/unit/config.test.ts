import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';

const base = { COMMAND_KEYS: 'k1:s1:system' };

describe('loadConfig', () => {
  it('fills in the local defaults of CONTRACT.md', () => {
    const config = loadConfig(base);
    expect(config.KAFKA_BROKERS).toEqual(['127.0.0.1:9092']);
    expect(config.REDIS_URL).toBe('redis://127.0.0.1:6379');
    expect(config.DATABASE_URL).toMatch(/^postgres:\/\//);
    expect(config.RESULTS_REFRESH_MIN_INTERVAL_S).toBe(300);
    expect(config.COMMANDS_TOPIC).toBe('experimentation.commands');
    expect(config.COMMANDS_PARTITIONS).toBe(6);
    expect(config.RESULTS_CORRECTION).toBe('holm');
  });

  it('parses signing keys with their scopes', () => {
    const config = loadConfig({ COMMAND_KEYS: 'svc:abc:user, ops:xyz:system' });
    expect(config.COMMAND_KEYS).toEqual([
      { keyId: 'svc', secret: 'abc', scope: 'user' },
      { keyId: 'ops', secret: 'xyz', scope: 'system' },
    ]);
  });

  it('leaves the ops dashboard off unless OPS_DASHBOARD_TOKEN is set', () => {
    expect(loadConfig(base).OPS_DASHBOARD_TOKEN).toBeUndefined();
    expect(loadConfig({ ...base, OPS_DASHBOARD_TOKEN: '' }).OPS_DASHBOARD_TOKEN).toBeUndefined();
    expect(loadConfig({ ...base, OPS_DASHBOARD_TOKEN: 'k'.repeat(32) }).OPS_DASHBOARD_TOKEN).toBe('k'.repeat(32));
  });

  it('parses a broker list', () => {
    expect(loadConfig({ ...base, KAFKA_BROKERS: 'a:9092,b:9093' }).KAFKA_BROKERS).toEqual(['a:9092', 'b:9093']);
  });

  it.each([
    [{}, /^configuration error: COMMAND_KEYS missing/],
    [{ COMMAND_KEYS: 'k1:s1:admin' }, /^configuration error: COMMAND_KEYS invalid value "k1:\*\*\*:admin"/],
    [{ ...base, KAFKA_BROKERS: 'nohostport' }, /^configuration error: KAFKA_BROKERS invalid value "nohostport": each broker must be host:port/],
    [{ ...base, DATABASE_URL: 'not a url' }, /^configuration error: DATABASE_URL invalid value/],
    [{ ...base, RESULTS_REFRESH_MIN_INTERVAL_S: '-5' }, /^configuration error: RESULTS_REFRESH_MIN_INTERVAL_S invalid value "-5"/],
    [{ ...base, RESULTS_CORRECTION: 'bonferroni' }, /^configuration error: RESULTS_CORRECTION invalid value "bonferroni"/],
    [{ ...base, HTTP_PORT: 'eighty' }, /^configuration error: HTTP_PORT invalid value "eighty"/],
    [{ ...base, OPS_DASHBOARD_TOKEN: 'short-secret' }, /^configuration error: OPS_DASHBOARD_TOKEN invalid value "\*\*\*": must be at least 32 characters/],
  ])('names the variable in one line for %j', (env, message) => {
    let error: unknown;
    try {
      loadConfig(env as Record<string, string>);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).not.toContain('\n');
  });

  it('never prints a secret', () => {
    expect(() => loadConfig({ ...base, DATABASE_URL: 'postgres://u:hunter2@h/db', REDIS_URL: 'nope' })).toThrow(/REDIS_URL/);
    try {
      loadConfig({ COMMAND_KEYS: 'k1:topsecret:root' });
    } catch (e) {
      expect((e as Error).message).not.toContain('topsecret');
    }
  });

  it('lets tools that never sign run without COMMAND_KEYS, with no keys', () => {
    expect(loadConfig({}, { requireCommandKeys: false }).COMMAND_KEYS).toEqual([]);
    expect(loadConfig({ COMMAND_KEYS: 'k:s:user' }, { requireCommandKeys: false }).COMMAND_KEYS).toEqual([{ keyId: 'k', secret: 's', scope: 'user' }]);
    expect(() => loadConfig({}, { requireCommandKeys: true })).toThrow(/COMMAND_KEYS missing/);
    expect(() => loadConfig({ KAFKA_BROKERS: 'bad' }, { requireCommandKeys: false })).toThrow(/KAFKA_BROKERS invalid value/);
  });

  it('treats an empty variable as unset', () => {
    expect(loadConfig({ ...base, KAFKA_BROKERS: '' }).KAFKA_BROKERS).toEqual(['127.0.0.1:9092']);
  });
});
