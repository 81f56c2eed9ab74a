# The orchestrator's image: the same image serves as the web process (`npm start`) and as a worker (`npm run worker`).
# Everything is fetched at build time from npm and Debian; nothing downloads at run time.
FROM node:20-bookworm-slim

# better-sqlite3 is compiled here (no prebuilt binary fetched from GitHub): it needs a compiler and Python.
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ \
  && rm -rf /var/lib/apt/lists/*

ENV NEXT_TELEMETRY_DISABLED=1 \
    npm_config_build_from_source=true \
    npm_config_update_notifier=false

WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund

COPY . .
# Prisma clients (offline: no schema engine needed), the CLI bundle, the Next production build.
RUN npm run db:generate && npm run build:cli && npx next build

ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000 \
    ORCHESTRATOR_DATA_DIR=/data
RUN mkdir -p /data && chown node:node /data && chown -R node:node /app/.next
USER node
EXPOSE 3000
CMD ["npm", "start"]
