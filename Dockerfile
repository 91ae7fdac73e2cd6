# The worker image (Node 24 LTS, the same major the npm `node` dev dependency pins for local runs).
FROM node:24-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
# The npm workspace of the client package, whose contracts the worker imports (linked by npm ci).
COPY packages/client/package.json ./packages/client/
# --omit=dev: the image runs TypeScript with tsx (a runtime dependency) and needs no compiler or test runner.
RUN npm ci --omit=dev --no-audit --no-fund
COPY tsconfig.json knexfile.ts ./
COPY src ./src
COPY packages/client/src ./packages/client/src
COPY migrations ./migrations
COPY bin ./bin
USER node
EXPOSE 9464
# `migrate` then `worker` is what docker-compose runs; plain `docker run` starts the worker alone.
# The condition resolves @experimentation-worker/client to its TypeScript source (no build step in the image).
ENV NODE_OPTIONS=--conditions=experimentation-worker-source
# --max-semi-space-size: the default WORKER_NODE_FLAGS of scripts/worker.sh (peak memory; see there).
CMD ["node", "--max-semi-space-size=4", "--import", "tsx", "src/main.ts"]
