import { z } from 'zod';

// Error bodies of replies: `{detail}` or field errors `{"<field>": ["message", …]}` (`nonFieldErrors` for the
// rest), worded as Django REST framework words them (Flagsmith's API).

export const detailErrorSchema = z.looseObject({ detail: z.string() });
export const fieldErrorsSchema = z.record(z.string(), z.array(z.string()));
/** 429: the results of the experiment were refreshed too recently. */
export const throttledErrorSchema = z.object({ detail: z.string(), retryAfter: z.number().int() });
export const errorBodySchema = z.union([detailErrorSchema, fieldErrorsSchema]);
/** Error body per the contract: `{detail}` or `{field: [messages]}` with `nonFieldErrors` for the rest. */
export type ErrorBody = { detail: string } | Record<string, string[]>;

/** A zod error as the contract's field errors; `prefix` names the field the schema checked. */
export function fieldErrors(error: z.ZodError, prefix?: string): Record<string, string[]> {
  const body: Record<string, string[]> = {};
  for (const issue of error.issues) {
    const path = issue.path.filter((p) => typeof p === 'string' || typeof p === 'number');
    const field = path.length ? [prefix, ...path].filter((p) => p !== undefined).join('.') : (prefix ?? 'nonFieldErrors');
    (body[field] ??= []).push(issue.message);
  }
  return body;
}

/**
 * The contract's wording of zod's issues, for `z.config({ customError: contractErrorMessage })`: as a global error
 * map it sees each issue's input (zod 4 leaves `input` out of the issues it returns). A message written on a schema
 * itself still wins. Not installed by this package: the worker installs it, a client may.
 */
export function contractErrorMessage(issue: z.core.$ZodRawIssue): string | undefined {
  const input = issue.input;
  switch (issue.code) {
    case 'invalid_type':
      if (input === undefined) return 'This field is required.';
      if (input === null) return 'This field may not be null.';
      if (issue.expected === 'string') return 'Not a valid string.';
      if (issue.expected === 'number' || issue.expected === 'int') return 'A valid integer is required.';
      if (issue.expected === 'boolean') return 'Must be a valid boolean.';
      if (issue.expected === 'array') return `Expected a list of items but got type "${typeName(input)}".`;
      if (issue.expected === 'object') return `Invalid data. Expected a dictionary, but got ${typeName(input)}.`;
      return undefined;
    case 'invalid_value':
      if (input === undefined) return 'This field is required.';
      return `"${String(input)}" is not a valid choice.`;
    case 'too_big':
      if (issue.origin === 'string') return `Ensure this field has no more than ${issue.maximum} characters.`;
      if (issue.origin === 'number') return `Ensure this value is less than or equal to ${issue.maximum}.`;
      if (issue.origin === 'array') return `Ensure this field has no more than ${issue.maximum} elements.`;
      return undefined;
    case 'too_small':
      if (issue.origin === 'string' && issue.minimum === 1) return 'This field may not be blank.';
      if (issue.origin === 'string') return `Ensure this field has at least ${issue.minimum} characters.`;
      if (issue.origin === 'number') return `Ensure this value is greater than or equal to ${issue.minimum}.`;
      return undefined;
    default:
      return undefined;
  }
}

function typeName(value: unknown): string {
  if (Array.isArray(value)) return 'list';
  if (value === null) return 'null';
  return typeof value === 'object' ? 'dict' : typeof value === 'string' ? 'str' : typeof value;
}
