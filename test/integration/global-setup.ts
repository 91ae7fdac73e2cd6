import { execFileSync } from 'node:child_process';
import { createKnex, ensureDatabase, migrateLatest } from '../../src/db.js';
import { testDatabaseUrl } from './env.js';

// Runs once before the integration files: the broker must answer (scripts/test.sh starts it) and the
// test database is created and migrated.
export default async function setup(): Promise<void> {
  const broker = process.env.KAFKA_BROKERS?.split(',')[0] ?? '127.0.0.1:9092';
  try {
    execFileSync(process.execPath, ['scripts/kafka-ready.mjs', broker, '20'], { stdio: 'inherit' });
  } catch {
    throw new Error(`no Kafka broker answers on ${broker}: run the tests with \`npm test\` (it starts one) or \`bash scripts/kafka.sh start\``);
  }
  await ensureDatabase(testDatabaseUrl);
  const knex = createKnex(testDatabaseUrl, 2);
  await migrateLatest(knex);
  await knex.destroy();
}
