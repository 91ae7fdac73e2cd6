import { defaultServerConditions } from 'vite';
import { defineConfig } from 'vitest/config';

// The workspace package @experimentation-worker/client resolves to its TypeScript source under this condition
// (packages/client/package.json "exports"), so tests never run a stale build of it. Processes the tests spawn
// get it from NODE_OPTIONS (here, for `npx vitest` too, and in scripts/test.sh).
const conditions = ['experimentation-worker-source', ...defaultServerConditions];
const NODE_OPTIONS = ['--conditions=experimentation-worker-source', process.env.NODE_OPTIONS].filter(Boolean).join(' ');

// Two projects: `unit` (pure code, no services) and `integration` (real Kafka, Postgres, Redis).
// Integration files share one broker and database, so they run one file at a time.
export default defineConfig({
  ssr: { resolve: { conditions } },
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          environment: 'node',
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          environment: 'node',
          env: { NODE_OPTIONS },
          fileParallelism: false,
          testTimeout: 60_000,
          hookTimeout: 120_000,
          globalSetup: ['test/integration/global-setup.ts'],
        },
      },
    ],
  },
});
