import { defineConfig } from "vitest/config";

// In the container: listen on every interface, proxy the API to backend-api, and let the
// browser reach the HMR websocket through the port published on the host.
const backend = process.env.BACKEND_URL ?? "http://127.0.0.1:3000";
const hmrClientPort = process.env.HMR_CLIENT_PORT ? Number(process.env.HMR_CLIENT_PORT) : undefined;
const levels = { debug: "info", info: "info", warn: "warn", warning: "warn", error: "error" } as const;

export default defineConfig({
  logLevel: levels[(process.env.LOG_LEVEL ?? "info").toLowerCase() as keyof typeof levels] ?? "info",
  server: {
    host: "0.0.0.0",
    port: 5173,
    strictPort: true,
    hmr: hmrClientPort ? { clientPort: hmrClientPort } : undefined,
    // Bind mounts from some hosts (Docker Desktop, WSL) do not deliver inotify events.
    watch: process.env.VITE_POLL ? { usePolling: true, interval: 300 } : undefined,
    proxy: { "/api": backend, "/health": backend },
  },
  test: {
    environment: "node",
    include: ["test/**/*.test.ts"],
  },
});
