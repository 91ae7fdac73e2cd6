// The metric names a PromQL expression (as Grafana stores it, with `$variables`) selects. Not a PromQL parser:
// what is left once strings, label matchers, ranges, grouping label lists, numbers, variables, keywords and
// function names are taken away is the metric names. test/unit/docs/promql-names.test.ts keeps it honest.

const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'offset', 'bool', 'and', 'or', 'unless', 'inf', 'nan']);

export function metricNamesOf(expr: string): string[] {
  let rest = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/gi, ' ')
    .replace(/\$\{[^}]*\}|\$\w+/g, ' ');
  // Numbers, and durations such as 5m or 1h30m (after `offset` or `@`).
  rest = rest.replace(/(^|[^\w:])(?:(?:\d+(?:ms|[smhdwy]))+|0x[0-9a-f]+|\d*\.?\d+(?:e[+-]?\d+)?)(?![\w:])/gi, '$1 ');
  const names = new Set<string>();
  for (const match of rest.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const after = rest.slice(match.index + match[0].length);
    if (/^\s*\(/.test(after)) continue; // a function or aggregation
    if (KEYWORDS.has(match[0].toLowerCase())) continue;
    names.add(match[0]);
  }
  return [...names];
}

/** Every PromQL expression of a Grafana dashboard: panel targets (rows' nested panels too) and query variables. */
export function dashboardExpressions(dashboard: { panels?: unknown[]; templating?: { list?: unknown[] } }): string[] {
  const expressions: string[] = [];
  const visit = (panel: { targets?: { expr?: string }[]; panels?: unknown[] }) => {
    for (const target of panel.targets ?? []) if (target.expr) expressions.push(target.expr);
    for (const inner of panel.panels ?? []) visit(inner as typeof panel);
  };
  for (const panel of dashboard.panels ?? []) visit(panel as Parameters<typeof visit>[0]);
  for (const variable of (dashboard.templating?.list ?? []) as { type?: string; query?: string | { query?: string } }[]) {
    if (variable.type !== 'query') continue;
    const query = typeof variable.query === 'string' ? variable.query : (variable.query?.query ?? '');
    // label_values(metric, label) / query_result(expr): the metric or expression inside.
    const inner = /^\s*(?:label_values|query_result)\((.*)\)\s*$/s.exec(query)?.[1];
    const labelValues = /^\s*label_values\(/.test(query);
    expressions.push(inner === undefined ? query : labelValues ? inner.replace(/,\s*\w+\s*$/, '') : inner);
  }
  return expressions;
}
