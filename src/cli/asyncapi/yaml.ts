// A YAML writer for JSON data (objects, arrays, strings, numbers, booleans, null), enough for the AsyncAPI
// document: block style, two-space indent, and any string that could read as something else double-quoted
// (a JSON string literal is a valid YAML double-quoted scalar).

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const RESERVED = /^(?:true|false|yes|no|on|off|y|n|null|~)$/i;
const PLAIN = /^[A-Za-z_$][\w$./-]*$/;

function scalar(value: string): string {
  return PLAIN.test(value) && !RESERVED.test(value) ? value : JSON.stringify(value);
}

function isEmpty(value: Json): boolean {
  return typeof value === 'object' && value !== null && (Array.isArray(value) ? value.length === 0 : Object.keys(value).length === 0);
}

function inline(value: Json): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return scalar(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error(`not JSON: ${value}`);
    return String(value);
  }
  if (typeof value === 'boolean') return String(value);
  return Array.isArray(value) ? '[]' : '{}';
}

function lines(value: Json, indent: string): string[] {
  if (Array.isArray(value)) {
    return value.flatMap((item) => {
      if (typeof item !== 'object' || item === null || isEmpty(item)) return [`${indent}- ${inline(item)}`];
      const [first, ...rest] = lines(item, `${indent}  `);
      return [`${indent}- ${first!.slice(indent.length + 2)}`, ...rest];
    });
  }
  if (typeof value === 'object' && value !== null) {
    return Object.entries(value).flatMap(([key, item]) => {
      if (typeof item !== 'object' || item === null || isEmpty(item)) return [`${indent}${scalar(key)}: ${inline(item)}`];
      return [`${indent}${scalar(key)}:`, ...lines(item, `${indent}  `)];
    });
  }
  return [`${indent}${inline(value)}`];
}

/** `value` as a YAML document (`undefined` members are left out, as JSON.stringify does). */
export function toYaml(value: unknown): string {
  return lines(JSON.parse(JSON.stringify(value)) as Json, '').join('\n') + '\n';
}
