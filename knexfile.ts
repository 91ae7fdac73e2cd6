import type { Knex } from 'knex';

// Used by `npm run migrate` (src/cli/migrate.ts) and by the knex CLI if you prefer it.
const config: Knex.Config = {
  client: 'pg',
  connection: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/experimentation',
  migrations: { directory: './migrations', extension: 'ts', tableName: 'knex_migrations', loadExtensions: ['.ts'] },
  pool: { min: 0, max: 10 },
};
export default config;
