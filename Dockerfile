# The worker image (Node 24 LTS, the same major the npm `node` dev dependency pins for local runs).
FROM node:24-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
# --omit=dev: the image runs TypeScript with tsx (a runtime dependency) and needs no compiler or test runner.
RUN npm ci --omit=dev --no-audit --no-fund
COPY tsconfig.json knexfile.ts ./
COPY src ./src
COPY migrations ./migrations
COPY bin ./bin
USER node
EXPOSE 9464
# `migrate` then `worker` is what docker-compose runs; plain `docker run` starts the worker alone.
CMD ["node", "--import", "tsx", "src/main.ts"]
