import type { IncomingMessage, ServerResponse } from 'node:http';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { HonoAdapter } from '@bull-board/hono';
import { getRequestListener } from '@hono/node-server';
import { serveStatic } from '@hono/node-server/serve-static';
import { Hono } from 'hono';
import { QUEUE_NAMES, type Queues } from './queues.js';

// Bull Board over the worker's BullMQ queues, as a node:http request handler for the HTTP server to mount (it
// checks the ops token first). Bull Board's Hono adapter: Hono and its Node server have no dependencies of their
// own, where the Express adapter brings Express's thirty.

/** What the dashboard says of each queue, and whether it offers Retry. */
const QUEUE_VIEWS: Record<string, { description: string; allowRetries: boolean }> = {
  [QUEUE_NAMES.commandRetries]: {
    description: 'Held commands, the head of each held key. Failed: answered 500 after all attempts; Retry runs the command again (as `expctl jobs replay`).',
    allowRetries: true,
  },
  // A failed reply job is a parked reply, which only `expctl parked retry` sends again (a retried job would find
  // nothing to send and complete): no Retry here.
  [QUEUE_NAMES.replies]: { description: 'One job per recorded reply. Failed: parked after its attempts; send it again with `expctl parked retry reply-<id>` (see the parked page).', allowRetries: false },
  [QUEUE_NAMES.results]: { description: 'Results computations, the results schedule and the tracking maintenance (a failed compute is recorded on the experiment).', allowRetries: true },
};

export interface QueueDashboardOptions {
  queues: Pick<Queues, 'all'>;
  /** Where the server mounts it, e.g. /ops/queues. */
  basePath: string;
  /** Links shown in the dashboard's header (the parked-messages page). */
  links?: Array<{ text: string; url: string }>;
}

export function queueDashboardHandler(options: QueueDashboardOptions): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const serverAdapter = new HonoAdapter(serveStatic);
  serverAdapter.setBasePath(options.basePath);
  createBullBoard({
    queues: options.queues.all.map((queue) => new BullMQAdapter(queue, QUEUE_VIEWS[queue.name] ?? { description: '', allowRetries: true })),
    serverAdapter,
    options: { uiConfig: { boardTitle: 'experimentation-worker', miscLinks: options.links ?? [], hideDocsLink: true } },
  });
  const app = new Hono({ strict: false }); // /ops/queues/ (the board's own home link) is /ops/queues
  app.route(options.basePath, serverAdapter.registerPlugin());
  return getRequestListener(app.fetch) as (req: IncomingMessage, res: ServerResponse) => Promise<void>;
}
