# Node 24 LTS. Spool runs TypeScript with tsx: no build step to forget.
FROM node:24-slim
RUN corepack enable
WORKDIR /app
COPY . .
RUN pnpm install --frozen-lockfile
ENV NODE_ENV=production
EXPOSE 3000
# node itself as the command, not pnpm: pnpm does not pass SIGTERM on (README, Deployment).
CMD ["node", "--import", "tsx", "packages/cli/src/start.ts"]
