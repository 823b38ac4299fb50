# The one image: the CLI, the proxy, the init container and the controller.
#   docker build -t <registry>/mesh:<version> .
# `mesh install --image ...` and `mesh inject --proxy-image ...` name it.
FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY native ./native
COPY scripts ./scripts
RUN apt-get update && apt-get install -y --no-install-recommends g++ make && rm -rf /var/lib/apt/lists/*
RUN npm run build && OCLIF_SKIP_NEW_VERSION_CHECK=1 npx oclif manifest && npm prune --omit=dev

FROM node:20-bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends iptables iproute2 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 2102 mesh-proxy \
 && useradd --system --uid 2102 --gid 2102 --home-dir /nonexistent --shell /usr/sbin/nologin mesh-proxy
WORKDIR /opt/mesh
COPY --from=build /src/package.json /src/oclif.manifest.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY --from=build /src/native/build ./native/build
COPY bin ./bin
COPY manifests ./manifests
ENV NODE_ENV=production
# The proxy runs as uid 2102 (the injector sets it); proxy-init runs as root with NET_ADMIN.
ENTRYPOINT ["node", "/opt/mesh/bin/run.js"]
