# The one image: the CLI, the proxy, the init container and the controller, on Node 24, for
# linux/amd64 and linux/arm64:
#   docker buildx build --platform linux/amd64,linux/arm64 -t <registry>/mesh:<version> --push .
# (one platform, the builder's own: docker build -t <registry>/mesh:<version> .)
# Each platform's build stage runs as that platform (under QEMU emulation when the builder is
# another architecture: docker run --privileged --rm tonistiigi/binfmt --install arm64), so
# npm ci installs that platform's packages and the native addons are compiled for it, against
# the headers of the image's own node (/usr/local/include/node).
# `mesh install --image ...` and `mesh inject --proxy-image ...` name it.
FROM node:24-bookworm-slim AS build
# cc and libc's headers for scripts/build-native.sh (the proxy's three N-API addons).
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY bin ./bin
COPY src ./src
COPY native ./native
COPY scripts ./scripts
# The addons must build: an image without them would not see redirected connections' addresses.
RUN BUILD_NATIVE_REQUIRED=1 npm run build \
 && OCLIF_SKIP_NEW_VERSION_CHECK=1 npx oclif manifest \
 && npm prune --omit=dev

FROM node:24-bookworm-slim
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
