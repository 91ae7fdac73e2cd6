import { Model, snakeCaseMappers } from 'objection';

// camelCase in code, snake_case in Postgres. Fields are `declare`d in subclasses: a class field
// initialiser would shadow the row objection assigns.
export class BaseModel extends Model {
  static override get columnNameMappers() {
    return snakeCaseMappers();
  }
}
