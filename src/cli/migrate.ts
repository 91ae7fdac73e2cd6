import { loadConfigOrExit } from './common.js';
import { createKnex, ensureDatabase, migrateLatest } from '../db.js';

// `npm run migrate`: creates the database if missing, then applies every pending migration.
if (process.argv.includes('--help') || process.argv.includes('-h')) {
  console.log('Usage: npm run migrate\n\nCreates the database named by DATABASE_URL if it is missing and applies the pending migrations.');
  process.exit(0);
}
const config = loadConfigOrExit({ requireCommandKeys: false });
try {
  if (await ensureDatabase(config.DATABASE_URL)) console.log('created the database');
  const knex = createKnex(config.DATABASE_URL, 2);
  const applied = await migrateLatest(knex);
  console.log(applied.length ? `applied ${applied.length} migration(s): ${applied.join(', ')}` : 'database is up to date');
  await knex.destroy();
} catch (error) {
  console.error(`migrate failed: ${(error as Error).message}`);
  process.exit(1);
}
