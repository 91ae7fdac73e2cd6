import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { containsPattern, pageWindow, pagingFields } from '../../../src/domain/paging.js';
import { experimentListSchema } from '../../../src/contracts/experiments.js';
import { fieldErrors } from '../../../src/contracts/errors.js';

const paging = z.object(pagingFields);
const errorsOf = (schema: z.ZodType, payload: unknown) => {
  const parsed = schema.safeParse(payload);
  return parsed.success ? null : fieldErrors(parsed.error);
};

describe('paging', () => {
  it('defaults to the first page of 100', () => {
    expect(paging.parse({})).toEqual({ page: 1, pageSize: 100 });
  });

  it('accepts page from 1 and pageSize 1 to 999', () => {
    expect(paging.parse({ page: 3, pageSize: 1 })).toEqual({ page: 3, pageSize: 1 });
    expect(paging.parse({ page: 1, pageSize: 999 })).toEqual({ page: 1, pageSize: 999 });
  });

  it('answers field errors outside the range', () => {
    expect(errorsOf(paging, { pageSize: 1000 })).toEqual({ pageSize: ['Ensure this value is less than or equal to 999.'] });
    expect(errorsOf(paging, { pageSize: 0 })).toEqual({ pageSize: ['Ensure this value is greater than or equal to 1.'] });
    expect(errorsOf(paging, { page: 0 })).toEqual({ page: ['Ensure this value is greater than or equal to 1.'] });
    expect(errorsOf(paging, { page: 1.5 })).toEqual({ page: ['A valid integer is required.'] });
  });

  it('turns a page into offset and limit', () => {
    expect(pageWindow({ page: 1, pageSize: 100 })).toEqual({ offset: 0, limit: 100 });
    expect(pageWindow({ page: 3, pageSize: 20 })).toEqual({ offset: 40, limit: 20 });
  });

  it('matches q literally inside an ILIKE pattern', () => {
    expect(containsPattern('check')).toBe('%check%');
    expect(containsPattern('50%_off\\')).toBe('%50\\%\\_off\\\\%');
  });
});

describe('experiment.list status filter', () => {
  it('takes one status or several', () => {
    expect(experimentListSchema.parse({ status: 'running' }).status).toEqual(['running']);
    expect(experimentListSchema.parse({ status: ['running', 'paused'] }).status).toEqual(['running', 'paused']);
    expect(experimentListSchema.parse({}).status).toBeUndefined();
  });

  it('names each unknown status', () => {
    expect(errorsOf(experimentListSchema, { status: ['running', 'archived'] })).toEqual({ status: ["Invalid status 'archived'."] });
    expect(errorsOf(experimentListSchema, { status: 'X' })).toEqual({ status: ["Invalid status 'X'."] });
  });
});
