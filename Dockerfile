# syntax=docker/dockerfile:1
# txmgr worker image. Build: docker build -t txmgr:local .
# The same image runs the worker (default CMD) and the one-shot migration
# (`npm run migrate`), so both always agree on the schema version.

# ---- build: compile TypeScript, then drop dev dependencies ----
FROM node:20-bookworm-slim AS build
WORKDIR /app

# Manifests first, so the dependency layer is reused until they change.
COPY package.json package-lock.json ./
# Plain `npm ci`: package.json's allowScripts is the install-script policy; the
# cache mount keeps the npm download cache out of the image.
RUN --mount=type=cache,target=/root/.npm npm ci

COPY tsconfig*.json ./
COPY src ./src
RUN npm run build

# Dev dependencies (tsc, jest, eslint, ...) were needed only to build.
RUN npm prune --omit=dev

# ---- runtime: compiled JS and production node_modules, nothing else ----
FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app

# Files stay owned by root and read-only to the process: the worker never
# writes to its own code (workflow bundling happens in memory).
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# migrate-cli resolves migrations/ as ../../migrations from dist/db.
COPY migrations ./migrations

# The base image's `node` user, by number so Kubernetes' runAsNonRoot can check it.
USER 1000:1000

# Exec form: node gets SIGTERM directly and drains the Temporal worker
# (compose adds `init: true` for signal forwarding and zombie reaping).
CMD ["node", "dist/worker.js"]
