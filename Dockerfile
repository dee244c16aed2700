# The operator image: Node 24 running the operator compiled to JavaScript
# (`npm run build`: tsc to dist/; running the TypeScript sources on Node's type
# stripping would load its transformer, about 25 MiB more RSS). Two stages:
# the build stage installs every dependency, compiles, then prunes to the
# production dependencies; the runtime stage is distroless (no npm, no shell,
# no package manager) and gets only node, node_modules, package.json and dist/.
#
# Both bases are pinned by the digest of their multi-arch index, as published
# for node:24.20.0-bookworm-slim and gcr.io/distroless/nodejs24-debian12
# (Debian 12 both, so the node binary copied across finds the same libc).
# Renew them together: docker buildx imagetools inspect <image:tag>.
ARG BUILD_IMAGE=node:24.20.0-bookworm-slim@sha256:ba849c60be29959425b8734d57b8b4b7d56f98edd9504c9af091d5281095a71e
ARG RUNTIME_IMAGE=gcr.io/distroless/nodejs24-debian12@sha256:61f4f4341db81820c24ce771b83d202eb6452076f58628cd536cc7d94a10978b

FROM ${BUILD_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npx tsc -p tsconfig.build.json && npm prune --omit=dev --ignore-scripts --no-audit --no-fund

FROM ${RUNTIME_IMAGE}
# The build stage's node (24.20.0) replaces the base's, so the image runs the Node release the
# digest above names, whatever the distroless base bundled.
COPY --from=build /usr/local/bin/node /nodejs/bin/node
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
# package.json says "type": "module": node reads dist/ as ES modules.
COPY package.json ./
COPY --from=build /app/dist ./dist
ENV NODE_ENV=production
# Memory: two malloc arenas instead of one per thread, V8's young generation at 4 MiB semi-spaces
# instead of 16, and V8's --optimize-for-size (its heap grows by a smaller factor): with 1,000 jobs the
# peak RSS was 370 MiB with the first two against 582 without, and 166 MiB with all three against
# 223-274 without the third, for about a third more CPU (docs/benchmarks.md, "Scale";
# bench/support/image.ts holds the same settings for the benches).
ENV MALLOC_ARENA_MAX=2
# The distroless "nonroot" user; the Deployment also runs as 65532 with runAsNonRoot.
USER 65532:65532
ENTRYPOINT ["/nodejs/bin/node", "--max-semi-space-size=4", "--optimize-for-size", "dist/main.js"]
