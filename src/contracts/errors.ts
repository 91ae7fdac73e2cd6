import type { z } from 'zod';

// Turns zod issues into the contract's field-error body: `{ "<field>": ["message", …] }`, with
// Django REST framework's wording (Flagsmith's API) for the common cases.
export function fieldErrors(error: z.ZodError, prefix?: string): Record<string, string[]> {
  const body: Record<string, string[]> = {};
  for (const issue of error.issues) {
    const path = issue.path.filter((p) => typeof p === 'string' || typeof p === 'number');
    const field = path.length ? [prefix, ...path].filter((p) => p !== undefined).join('.') : (prefix ?? 'nonFieldErrors');
    (body[field] ??= []).push(messageFor(issue));
  }
  return body;
}

function messageFor(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_type':
      if (issue.input === undefined) return 'This field is required.';
      if (issue.input === null) return 'This field may not be null.';
      if (issue.expected === 'string') return 'Not a valid string.';
      if (issue.expected === 'number' || issue.expected === 'int') return 'A valid integer is required.';
      if (issue.expected === 'boolean') return 'Must be a valid boolean.';
      if (issue.expected === 'array') return `Expected a list of items but got type "${typeName(issue.input)}".`;
      if (issue.expected === 'object') return 'Invalid data. Expected a dictionary, but got ' + typeName(issue.input) + '.';
      return issue.message;
    case 'invalid_value':
      return `"${String(issue.input)}" is not a valid choice.`;
    case 'too_big':
      if (issue.origin === 'string') return `Ensure this field has no more than ${issue.maximum} characters.`;
      if (issue.origin === 'number') return `Ensure this value is less than or equal to ${issue.maximum}.`;
      return issue.message;
    case 'too_small':
      if (issue.origin === 'string' && issue.minimum === 1) return 'This field may not be blank.';
      if (issue.origin === 'string') return `Ensure this field has at least ${issue.minimum} characters.`;
      if (issue.origin === 'number') return `Ensure this value is greater than or equal to ${issue.minimum}.`;
      return issue.message;
    case 'unrecognized_keys':
      return issue.message;
    default:
      return issue.message;
  }
}

function typeName(value: unknown): string {
  if (Array.isArray(value)) return 'list';
  if (value === null) return 'null';
  return typeof value === 'object' ? 'dict' : typeof value === 'string' ? 'str' : typeof value;
}
