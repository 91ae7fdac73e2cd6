import { afterAll, describe, expect, it } from 'vitest';
import { createKnex } from '../../../src/db.js';
import { isTransientError } from '../../../src/domain/retry.js';
import { testDatabaseUrl, testResourceName } from '../env.js';

// The app's pool sends frequent inserts by name (src/db-prepared.ts), on the real Postgres: the backend holds
// them as prepared statements, and other statements stay unnamed.
describe('prepared statements of the app pool', () => {
  const knex = createKnex(testDatabaseUrl, 1);
  afterAll(() => knex.destroy());

  it('prepares an insert run twice on the connection, and no select', async () => {
    await knex.transaction(async (trx) => {
      await trx.raw('create temporary table prepared_probe (id serial primary key, name text not null) on commit drop');
      for (let i = 0; i < 3; i++) {
        const [row] = await trx('prepared_probe').insert({ name: `n${i}` }).returning('*');
        expect(row).toMatchObject({ name: `n${i}` });
        await trx('prepared_probe').where('name', `n${i}`).first();
      }
      const { rows } = await trx.raw<{ rows: Array<{ name: string; statement: string }> }>('select name, statement from pg_prepared_statements');
      const probes = rows.filter((r) => r.statement.includes('prepared_probe'));
      expect(probes).toHaveLength(1);
      expect(probes[0]!.name).toMatch(/^expw_auto_/);
      expect(probes[0]!.statement).toMatch(/^insert into "prepared_probe"/);
    });
  });

  it('sends an insert unnamed once a migration changed its table, after one failure counted as transient', async () => {
    const table = testResourceName('-').replace(/-/g, '_');
    await knex.schema.createTable(table, (t) => {
      t.increments('id');
      t.text('name').notNullable();
    });
    try {
      for (let i = 0; i < 2; i++) await knex(table).insert({ name: `before ${i}` }).returning('*');
      await knex.schema.alterTable(table, (t) => t.text('added').nullable());
      const failure = await knex(table).insert({ name: 'stale' }).returning('*').catch((error: unknown) => error);
      expect(failure).toMatchObject({ code: '0A000' });
      expect(isTransientError(failure)).toBe(true);
      const [row] = await knex(table).insert({ name: 'after' }).returning('*');
      expect(row).toMatchObject({ name: 'after', added: null });
    } finally {
      await knex.schema.dropTable(table);
    }
  });
});
