# syntax=docker/dockerfile:1
# Build: compile TypeScript. Deps: production dependencies only. Image: distroless Node 24, non-root.
FROM node:24-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY functions ./functions
RUN npm run build

FROM node:24-bookworm-slim AS deps
WORKDIR /fn
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

FROM gcr.io/distroless/nodejs24-debian12:nonroot AS image
WORKDIR /fn
COPY --from=deps /fn/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json ./
USER 65532:65532
EXPOSE 9443
# Crossplane mounts the mTLS certificates at /tls/server; the server refuses to start without them.
ENTRYPOINT ["/nodejs/bin/node", "dist/functions/main.js"]
