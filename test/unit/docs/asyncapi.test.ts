import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Parser } from '@asyncapi/parser';
import { describe, expect, it } from 'vitest';
import { commands, events } from '@experimentation-worker/client/contracts';
import { loadConfig } from '../../../src/config.js';
import { asyncApiDocument, generatedMessages } from '../../../src/cli/asyncapi/document.js';
import { asyncApiFiles } from '../../../src/cli/asyncapi/files.js';

const docs = join(import.meta.dirname, '../../../docs');
const topics = loadConfig({}, { requireCommandKeys: false });
const fresh = asyncApiFiles(topics);
const STALE = 'docs/ differs from the zod contracts: run npm run docs:asyncapi and commit the result';

describe('the AsyncAPI document', () => {
  it('is what `npm run docs:asyncapi` generates now (the committed files are up to date)', async () => {
    const committedSchemas = (await readdir(join(docs, 'schemas'))).map((name) => `schemas/${name}`).sort();
    expect(committedSchemas, STALE).toEqual(Object.keys(fresh).filter((p) => p.startsWith('schemas/')).sort());
    for (const [path, text] of Object.entries(fresh)) {
      expect(await readFile(join(docs, path), 'utf8'), `${path}: ${STALE}`).toBe(text);
    }
  });

  it('validates with @asyncapi/parser without errors, and reads back as generated', async () => {
    const { document, diagnostics } = await new Parser().parse(fresh['asyncapi.yaml']!);
    // Severity 0 is an error (1 warning, 2 information: "3.1.0 is the latest version" is one).
    expect(diagnostics.filter((d) => d.severity === 0).map((d) => `${d.path.join('.')}: ${d.message}`)).toEqual([]);
    expect(document).toBeDefined();
    const parsed = document!.json() as unknown as { components: { schemas: Record<string, unknown> } };
    const generated = asyncApiDocument(topics) as { components: { schemas: Record<string, unknown> } };
    // The parser adds x-parser-* keys; without them every schema is the generated one (the YAML writer lost nothing).
    expect(withoutParserKeys(parsed.components.schemas)).toEqual(generated.components.schemas);
  }, 60_000);

  it('has every channel, command, reply, event, the tracking event and the headers', () => {
    const doc = asyncApiDocument(topics) as {
      channels: Record<string, { address: string; messages: Record<string, unknown> }>;
      components: { schemas: Record<string, { properties?: Record<string, unknown> }> };
    };
    expect(Object.fromEntries(Object.entries(doc.channels).map(([name, c]) => [name, c.address]))).toEqual({
      commands: topics.COMMANDS_TOPIC,
      replies: topics.REPLIES_TOPIC,
      events: topics.EVENTS_TOPIC,
      tracking: topics.TRACKING_TOPIC,
      commandsDlq: topics.DLQ_TOPIC,
      trackingDlq: topics.TRACKING_DLQ_TOPIC,
    });
    const names = generatedMessages().map((m) => `${m.channel}:${m.name}`);
    for (const type of Object.keys(commands)) expect(names).toContain(`commands:${type}`), expect(names).toContain(`replies:${type} reply`);
    for (const type of Object.keys(events)) expect(names).toContain(`events:${type}`);
    expect(names).toContain('tracking:tracking event');
    expect(Object.keys(doc.components.schemas.commandHeaders!.properties!)).toEqual(['x-key-id', 'x-signature', 'traceparent']);
    expect(Object.keys(doc.components.schemas.replyHeaders!.properties!)).toEqual(['correlation-id', 'traceparent']);
  });

  it('gives the JSON Schema of a command its payload schema, input side (defaults may be left out)', () => {
    const create = JSON.parse(fresh['schemas/command.metric.create.json']!) as {
      required: string[];
      properties: { type: { const: string }; payload: { required: string[]; properties: Record<string, unknown> } };
    };
    expect(create.properties.type.const).toBe('metric.create');
    expect(create.required).toEqual(expect.arrayContaining(['id', 'type', 'environment', 'actor']));
    expect(create.properties.payload.required).toEqual(['name', 'definition']);
    expect(Object.keys(create.properties.payload.properties)).toEqual(['name', 'description', 'aggregation', 'direction', 'definition']);
  });
});

function withoutParserKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutParserKeys);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(Object.entries(value).filter(([k]) => !k.startsWith('x-parser-')).map(([k, v]) => [k, withoutParserKeys(v)]));
}
