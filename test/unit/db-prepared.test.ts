import { describe, expect, it } from 'vitest';
import { statementNamer } from '../../src/db-prepared.js';

// Which statements the app's pool sends by name (src/db-prepared.ts).
describe('statementNamer', () => {
  const insert = 'insert into "metrics" ("environment_id", "name") values ($1, $2) returning *';

  it('names an insert … values from its second sighting on, the same text always under the same name', () => {
    const namer = statementNamer();
    expect(namer.nameFor(insert, 2)).toBeUndefined();
    const name = namer.nameFor(insert, 2);
    expect(name).toMatch(/^expw_auto_[\w-]{20}$/);
    expect(namer.nameFor(insert, 2)).toBe(name);
    expect(statementNamer().nameFor(insert, 2) ?? statementNamer().nameFor(insert, 2)).toBeUndefined();
    const other = statementNamer();
    other.nameFor(insert, 2);
    expect(other.nameFor(insert, 2)).toBe(name);
  });

  it('leaves unnamed what reads a table, what has no bindings, and what is too long or has too many bindings', () => {
    const namer = statementNamer();
    const texts: Array<[string, number]> = [
      ['select * from "metrics" where "id" = $1', 1],
      ['update "metrics" set "name" = $1 where "id" = $2', 2],
      ['delete from "metrics" where "id" = $1', 1],
      ['insert into "audit_log" ("a") select "a" from "metrics" where "id" = $1', 1],
      ['insert into "metrics" ("a") values ($1) on conflict ("a") do update set "a" = (select 1)', 1],
      ["insert into \"metrics\" (\"a\") values ('x')", 0],
      [`insert into "metrics" ("a") values (${'$1, '.repeat(700)}$1)`, 1],
    ];
    for (const [sql, bindings] of texts) {
      namer.nameFor(sql, bindings);
      expect(namer.nameFor(sql, bindings), sql.slice(0, 60)).toBeUndefined();
    }
    namer.nameFor(insert, 65);
    expect(namer.nameFor(insert, 65)).toBeUndefined();
    expect(namer.named).toBe(0);
  });

  it('names at most maxNamed texts', () => {
    const namer = statementNamer({ maxTextChars: 2000, maxBindings: 64, maxNamed: 3 });
    const names = Array.from({ length: 5 }, (_, i) => {
      const sql = `insert into "t${i}" ("a") values ($1)`;
      namer.nameFor(sql, 1);
      return namer.nameFor(sql, 1);
    });
    expect(names.filter(Boolean)).toHaveLength(3);
    expect(names.slice(3)).toEqual([undefined, undefined]);
    expect(namer.named).toBe(3);
  });
});
