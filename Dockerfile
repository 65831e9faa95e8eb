# syntax=docker/dockerfile:1
# The Google Drive worker's image. Three stages: `build` compiles TypeScript with every
# dependency, `prod-deps` installs production dependencies only, and the final stage holds
# nothing else: no compiler, no tests, no npm cache. CI builds it with podman on a local
# stand-in for NODE_IMAGE (`npm run image`) and starts it as the StatefulSet's pod
# (`npm run test:image`); test/deploy/dockerfile.unit.test.ts checks these properties as text.
# Pin the base image by digest in your registry mirror for reproducible builds.
ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
# Scripts are not needed to compile (the image already has Node 24; the `node` dev
# dependency only matters on developer machines).
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
# Compiles to dist/ and copies the status page's plain files next to the compiled app.
RUN npm run build

FROM ${NODE_IMAGE} AS prod-deps
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
# TypeScript declarations are for compilers, not for `node` (about 6 MB of the packages).
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
  && npm cache clean --force \
  && find node_modules -type f \( -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' \) -delete

FROM ${NODE_IMAGE}
ENV NODE_ENV=production \
  NODE_OPTIONS=--enable-source-maps \
  HTTP_PORT=8080
WORKDIR /app
# Owned by root and read-only for the process: the container runs with a read-only root
# filesystem and needs to write nothing but /tmp.
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
# `node` (uid 1000) ships with the official image; numeric so runAsNonRoot can verify it.
USER 1000:1000
EXPOSE 8080
# No curl in slim images: Node's own fetch asks the liveness endpoint.
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.HTTP_PORT || 8080) + '/health/live').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# Node runs as PID 1 and handles SIGTERM itself (src/main.ts): graceful shutdown.
STOPSIGNAL SIGTERM
CMD ["node", "dist/main.js"]
