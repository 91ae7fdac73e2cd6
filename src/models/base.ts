import { Model, snakeCaseMappers } from 'objection';

// camelCase properties on models, snake_case columns in Postgres. The mapping covers rows only: column
// names inside where/orderBy clauses are written in snake_case. Fields are `declare`d in subclasses: a class field
// initialiser would shadow the row objection assigns.
export class BaseModel extends Model {
  static override get columnNameMappers() {
    return snakeCaseMappers();
  }
}
