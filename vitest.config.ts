import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["relay/**/*.test.ts", "operator/**/*.test.ts", "test/**/*.test.ts"],
    globalSetup: ["test/support/global-setup.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Two cores: integration tests start real servers; more workers only add contention.
    maxWorkers: 2,
  },
});
