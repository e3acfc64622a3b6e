# Node 24 LTS. Spool runs TypeScript with tsx: no build step to forget.
FROM node:24-slim
RUN corepack enable
WORKDIR /app
# The manifests first, so that a change to the source does not install every dependency again.
COPY package.json pnpm-lock.yaml pnpm-workspace.yaml ./
COPY patches ./patches
COPY apps/api/package.json apps/api/
COPY apps/dashboard/package.json apps/dashboard/
COPY apps/worker/package.json apps/worker/
COPY packages/cli/package.json packages/cli/
COPY packages/core/package.json packages/core/
RUN pnpm install --frozen-lockfile
COPY . .
ENV NODE_ENV=production
# The image's own unprivileged user: the API, workers and dashboard write nothing to disk.
USER node
# 3000: the API; 3001: the dashboard (a worker serves /metrics on WORKER_METRICS_PORT if set).
EXPOSE 3000 3001
# The API's liveness; compose gives the worker and the dashboard their own probes.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s \
  CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.PORT ?? 3000}/healthz`).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# The API; compose runs the worker, dashboard and migrations from the same image with their own
# commands. node itself as the command, not pnpm: pnpm does not pass SIGTERM on (README,
# Deployment).
CMD ["node", "--import", "tsx", "apps/api/src/main.ts"]
