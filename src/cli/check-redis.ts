import { Redis } from 'ioredis';

// Used by scripts/stack.sh: Redis must answer; BullMQ needs maxmemory-policy noeviction (warn otherwise).
const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null, connectTimeout: 3000 });
try {
  await redis.connect();
  await redis.ping();
  const policy = ((await redis.config('GET', 'maxmemory-policy').catch(() => [])) as string[])[1];
  if (policy && policy !== 'noeviction') console.warn(`[stack] warning: Redis maxmemory-policy is ${policy}; BullMQ needs noeviction or jobs can be evicted`);
  console.log(`[stack] Redis answers on ${url.replace(/\/\/[^@]*@/, '//')} (maxmemory-policy ${policy ?? 'unknown'})`);
  redis.disconnect();
} catch (error) {
  console.error(`[stack] error: Redis does not answer on ${url}: ${(error as Error).message}`);
  process.exit(1);
}
