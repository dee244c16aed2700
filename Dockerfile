# The operator image: Node 24 running the TypeScript sources directly (type stripping).
FROM node:24-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY src ./src
USER 65532
ENTRYPOINT ["node", "src/main.ts"]
