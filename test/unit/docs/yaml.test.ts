import { describe, expect, it } from 'vitest';
import { toYaml } from '../../../src/cli/asyncapi/yaml.js';

describe('toYaml', () => {
  it('writes nested objects and arrays in block style, empty ones inline', () => {
    expect(toYaml({ a: { b: [1, { c: true, d: null }, []], e: {} }, f: [[2]] })).toBe(
      ['a:', '  b:', '    - 1', '    - c: true', '      d: null', '    - []', '  e: {}', 'f:', '  - - 2', ''].join('\n'),
    );
  });

  it('quotes every string that YAML could read as something else', () => {
    const tricky = ['yes', 'No', 'null', '~', '1', '3.0.0', '', ' lead', 'a: b', '# c', '- d', '@e', '*f', 'g\nh', '"i"', "'j'", '{k}', '[l]', 'm #n'];
    const text = toYaml(Object.fromEntries(tricky.map((s, i) => [`k${i}`, s])));
    tricky.forEach((s, i) => expect(text).toContain(`k${i}: ${JSON.stringify(s)}\n`));
    expect(toYaml({ plain: 'application/json', ref: '#/components/x', key$: 'x-key-id' })).toBe(
      'plain: application/json\nref: "#/components/x"\nkey$: x-key-id\n',
    );
  });

  it('quotes keys that are not plain and leaves out undefined members', () => {
    expect(toYaml({ 'x y': 1, $ref: 'a', skip: undefined })).toBe('"x y": 1\n$ref: a\n');
  });
});
