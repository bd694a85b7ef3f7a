# syntax=docker/dockerfile:1
# Build: bundle the server (npm run bundle) into dist/server, plain JavaScript with every dependency inside, so it
# runs on the build machine's platform whatever the target. Image: distroless Node 24, non-root, the bundle and
# nothing else (no node_modules).
FROM --platform=$BUILDPLATFORM node:24-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY functions ./functions
COPY scripts/bundle.ts ./scripts/bundle.ts
RUN npm run bundle

FROM gcr.io/distroless/nodejs24-debian12:nonroot AS image
WORKDIR /fn
COPY --from=build /src/dist/server ./
USER 65532:65532
EXPOSE 9443 8080 8081
# V8 sizes its heap from the memory it sees, not from the container's limit: on a large node the server grows past
# 256Mi before it collects. These are the flags examples/install/function.yaml sets beside its limit (bench/runtime.ts
# reads them there; test/image checks the two agree). A larger limit can raise --max-old-space-size through the
# DeploymentRuntimeConfig's env.
ENV NODE_OPTIONS="--max-semi-space-size=8 --max-old-space-size=128"
# Crossplane mounts the mTLS certificates at /tls/server; the server refuses to start without them.
ENTRYPOINT ["/nodejs/bin/node", "main.mjs"]
