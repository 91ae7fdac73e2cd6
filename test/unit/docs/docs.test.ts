import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { handlers } from '../../../src/handlers/registry.js';
import { DEFINITION_MESSAGES } from '../../../src/domain/metric-definition.js';
import { TRANSITION_REJECTED } from '../../../src/domain/experiment-status.js';
import { RESULTS_MESSAGES, throttledMessage } from '../../../src/domain/results-rules.js';
import { ATTACH_MESSAGES, invalidPk } from '../../../src/handlers/experiment-metrics/attachable-metrics.js';
import { forbidden, notFound } from '../../../src/handlers/types.js';
import { LIMIT_MESSAGES } from '../../../src/pipeline/read-command.js';
import { ID_MESSAGES } from '../../../src/pipeline/execute-command.js';
import { DEFINITION_MAX_BYTES } from '../../../src/contracts/metrics.js';

// The repository documents itself (README.md, SECURITY.md, docs/): its links stay inside it and resolve, and the
// contract and domain pages name every command type and every error text the code answers with.

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const read = (path: string) => readFileSync(join(root, path), 'utf8');

/** Written on another branch at the time of writing; drop an entry once its file is in the tree. */
const PENDING_FILES = new Set(['docs/results-computation.md']);

function markdownFiles(): string[] {
  const top = readdirSync(root).filter((f) => f.endsWith('.md'));
  const docs = readdirSync(join(root, 'docs'), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.md'))
    .map((f) => join('docs', f));
  return [...top, ...docs].sort();
}

/** Inline links and images `[text](target)` outside code spans and fenced blocks. */
function linksOf(markdown: string): string[] {
  const prose = markdown.replace(/^```[\s\S]*?^```/gm, '').replace(/`[^`\n]*`/g, '');
  return [...prose.matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((m) => m[1]!);
}

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens. */
function anchorsOf(markdown: string): Set<string> {
  const prose = markdown.replace(/^```[\s\S]*?^```/gm, '');
  const anchors = new Set<string>();
  for (const [, heading] of prose.matchAll(/^#{1,6}\s+(.+?)\s*#*$/gm)) {
    anchors.add(
      heading!
        .toLowerCase()
        .replace(/[^\p{L}\p{N}\s_-]/gu, '')
        .replace(/\s/g, '-'),
    );
  }
  return anchors;
}

/** What is wrong with a link of `file`, or null when it resolves to a file (and heading) of the repository. */
function linkProblem(file: string, target: string): string | null {
  if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('//')) return 'points outside the repository';
  const [path, anchor] = target.split('#') as [string, string | undefined];
  const resolved = path === '' ? join(root, file) : resolve(root, dirname(file), decodeURIComponent(path));
  const inRepo = relative(root, resolved);
  if (inRepo.startsWith('..') || resolve(resolved) === resolve(root, '..')) return 'points outside the repository';
  if (!existsSync(resolved)) return PENDING_FILES.has(inRepo) ? null : 'names no file';
  if (anchor !== undefined && statSync(resolved).isFile() && resolved.endsWith('.md') && !anchorsOf(readFileSync(resolved, 'utf8')).has(anchor)) {
    return `names no heading #${anchor}`;
  }
  return null;
}

/** Messages written out literally in the code that answers commands. */
function literalMessages(): string[] {
  const dirs = ['src/handlers', 'src/pipeline', 'src/contracts', 'src/domain', 'packages/client/src/contracts'];
  const files = dirs.flatMap((dir) =>
    readdirSync(join(root, dir), { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.ts'))
      .map((f) => join(dir, f)),
  );
  const messages = new Set<string>();
  const patterns = [
    /\bdetail:\s*'([^'$]+)'/g,
    /\breason:\s*'([A-Z][^'$]*\.)'/g,
    /\[\s*'([A-Z][^'$]*\.)'\s*\]/g,
    /\[\s*"([A-Z][^"$]*\.)"\s*\]/g,
    /mustBeAbsent\('([^']+)'\)/g,
    /^\s*(?:if \([^)]*\)\s*)?return '([A-Z][^'$]*\.)';/gm,
  ];
  for (const file of files) {
    const source = read(file);
    for (const pattern of patterns) for (const [, message] of source.matchAll(pattern)) messages.add(message!);
  }
  return [...messages];
}

describe('documentation', () => {
  it('links only to files and headings inside the repository', () => {
    const problems: string[] = [];
    let links = 0;
    for (const file of markdownFiles()) {
      for (const target of linksOf(read(file))) {
        links++;
        const problem = linkProblem(file, target);
        if (problem) problems.push(`${file}: (${target}) ${problem}`);
      }
    }
    expect(problems).toEqual([]);
    expect(links).toBeGreaterThan(10);
  });

  it('finds bad links (the checker itself)', () => {
    expect(linksOf('[a](docs/x.md) `[b](c.md)` ![i](img.png "t")\n```\n[d](e.md)\n```')).toEqual(['docs/x.md', 'img.png']);
    expect(linkProblem('README.md', 'docs/contract.md#limits')).toBeNull();
    expect(linkProblem('docs/contract.md', '../SECURITY.md')).toBeNull();
    expect(linkProblem('docs/contract.md', '#guarantees')).toBeNull();
    expect(linkProblem('README.md', '../shared/CONTRACT.md')).toBe('points outside the repository');
    expect(linkProblem('README.md', 'https://example.com/')).toBe('points outside the repository');
    expect(linkProblem('README.md', 'docs/missing.md')).toBe('names no file');
    expect(linkProblem('README.md', 'docs/contract.md#no-such-heading')).toBe('names no heading #no-such-heading');
  });

  it('the contract names every command type the worker registers', () => {
    const contract = read('docs/contract.md');
    expect(handlers.size).toBeGreaterThan(20);
    const missing = [...handlers.keys()].filter((type) => !contract.includes(`\`${type}\``));
    expect(missing).toEqual([]);
  });

  it('the domain rules carry every error text of the code', () => {
    // As rendered: escaped quotes unescaped, line breaks inside a text read as spaces.
    const domain = read('docs/domain.md').replace(/\\"/g, '"').replace(/\s+/g, ' ');
    const messages = [
      ...Object.values(DEFINITION_MESSAGES),
      ...Object.values(ATTACH_MESSAGES),
      ...Object.values(RESULTS_MESSAGES),
      ...Object.values(LIMIT_MESSAGES),
      ...Object.values(ID_MESSAGES),
      TRANSITION_REJECTED,
      forbidden().body.detail as string,
      notFound().body.detail as string,
      `Definition must be at most ${DEFINITION_MAX_BYTES} bytes.`,
      throttledMessage(7).replace('7', 'N'),
      invalidPk(7).replace('7', 'N'),
      ...literalMessages(),
    ];
    expect(messages.length).toBeGreaterThan(40);
    const missing = [...new Set(messages)].filter((message) => !domain.includes(message));
    expect(missing).toEqual([]);
  });
});
