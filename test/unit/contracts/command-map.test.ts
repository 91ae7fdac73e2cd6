import { describe, expect, it } from 'vitest';
import { commands, COMMAND_TYPES } from '@experimentation-worker/client/contracts';
import { handlers } from '../../../src/handlers/registry.js';

// The client package's command map is what the typed client and the AsyncAPI document are made of: it must name
// exactly the commands the worker answers, with the worker's scope, and the worker must parse with its schemas.
describe('the contract command map', () => {
  it('names every command type the worker has a handler for, and no other', () => {
    expect([...COMMAND_TYPES].sort()).toEqual([...handlers.keys()].sort());
  });

  it('gives each command the scope of its handler', () => {
    for (const [type, handler] of handlers) expect(commands[type as keyof typeof commands].scope, type).toBe(handler.scope);
  });

  it('documents the payload schema each handler parses with (or one extending it by the fields checked after the lookup)', () => {
    for (const [type, handler] of handlers) {
      const documented = commands[type as keyof typeof commands].payload;
      if (documented === handler.payload) continue;
      // experiment.update, experiment.metric.attach / .update: the ids first (404), then the fields.
      const idsOnly = (handler.payload as unknown as { shape: Record<string, unknown> }).shape;
      const full = (documented as unknown as { shape: Record<string, unknown> }).shape;
      expect(Object.keys(full), type).toEqual(expect.arrayContaining(Object.keys(idsOnly)));
      for (const key of Object.keys(idsOnly)) expect(full[key], `${type}.${key}`).toBe(idsOnly[key]);
    }
  });
});
