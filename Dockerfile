# syntax=docker/dockerfile:1
#
# The ferry worker image: `ferry worker` for every migration in /app/migrations.
#
#   docker build -t ferry-worker .
#   docker run --rm -e DATABASE_URL -e TEMPORAL_ADDRESS -e TEMPORAL_NAMESPACE \
#     -v "$PWD/migrations:/app/migrations:ro" --stop-timeout 120 ferry-worker
#
# Nothing secret is baked in: DATABASE_URL and the TEMPORAL_* settings come from the environment
# at run time. The same image runs any ferry command: `docker run --rm ... ferry-worker status <name>`.
#
# test/deploy/dockerfile.test.ts reads this file and runs its RUN commands and its entrypoint on a
# machine without Docker: keep to FROM, WORKDIR, ENV, COPY, RUN, USER, STOPSIGNAL, ENTRYPOINT, CMD.

ARG NODE_IMAGE=node:20-bookworm-slim

# Build: every dependency (TypeScript among them), then dist/, the compiled JavaScript the npm
# package ships (scripts/build.ts: src/ and devstack/ compiled, ferry's schema files copied).
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --prefer-offline --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/build.ts ./scripts/
COPY src ./src
COPY devstack ./devstack
RUN npm run build

# Production dependencies only (tsx among them: it loads TypeScript migration files).
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev --prefer-offline --no-audit --no-fund

# Runtime: production dependencies and dist/, no TypeScript sources; the worker bundles its
# workflow code (dist/workflows) with the SDK's bundler at start-up.
FROM ${NODE_IMAGE} AS runtime
# tini as PID 1: it forwards SIGTERM to node and reaps children. node itself as PID 1 ignores a
# SIGTERM that arrives before the worker has installed its handlers (the first seconds of start-up).
RUN apt-get update && apt-get install -y --no-install-recommends tini && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV NODE_ENV=production \
    FERRY_MIGRATIONS=/app/migrations
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY bin ./bin
# Mount or COPY the migrations here (.ts, .js, .cjs, .mjs): files under /app import `ferry` from
# this package (package.json's name and exports).
RUN mkdir -p migrations
# The image's `node` user (uid 1000); the application files stay root-owned and read-only to it.
USER node
# On SIGTERM the worker stops polling, lets each backfill chunk finish its in-flight batch and
# checkpoint it, and exits 0. Give it time: `docker stop -t 120`, compose `stop_grace_period: 2m`,
# Kubernetes `terminationGracePeriodSeconds: 120`.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/tini", "--", "node", "/app/bin/ferry.js"]
CMD ["worker"]
