# One image for both `kuberaft node` and `kuberaft operator` (the chart passes the subcommand as args).
# Build: docker build -t ghcr.io/kuberaft/kuberaft:$(node -p 'require("./package.json").version') .
# test/e2e/chart-image.test.ts checks this file's invariants and runs the runtime stage's file layout.
ARG NODE_IMAGE=node:20-bookworm-slim

# ---- build: compile TypeScript, then drop dev dependencies
FROM ${NODE_IMAGE} AS build
WORKDIR /src
# Dependencies first, so this layer is cached until the lock file changes. --ignore-scripts: `prepare`
# would build before the sources are here; the build runs explicitly below.
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json tsconfig.ui.json tsconfig.ui.build.json ./
COPY scripts/build-ui.mjs ./scripts/build-ui.mjs
COPY bin ./bin
COPY src ./src
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

# ---- runtime: the compiled code, production dependencies and nothing else
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
# Owned by root and read-only to the process: it runs with readOnlyRootFilesystem and writes only to
# its data volume.
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
# dist/src holds the node's compiled code and, in dist/src/ui, the cluster page it serves at GET /.
COPY --from=build /src/dist/src ./dist/src
COPY --from=build /src/bin ./bin
# 65532: the conventional "nonroot" uid/gid; numeric so runAsNonRoot can verify it.
USER 65532:65532
# Peer (Raft) port, node HTTP API (client, admin, /metrics), operator /metrics and probes.
EXPOSE 7001 8001 8080
ENTRYPOINT ["node", "/app/bin/kuberaft.js"]
CMD ["--help"]
