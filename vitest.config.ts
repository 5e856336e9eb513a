import { configDefaults, defineConfig } from "vitest/config";
import { excludeGlobs, includeGlobs, TIERS, type TierName } from "./test/tiers.js";

/** Tiers that use the shared servers of test/support/global-setup.ts (a private redis-server). */
const NEEDS_SHARED_SERVERS: readonly TierName[] = ["integration", "system"];

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Two cores: integration tests start real servers; more workers only add contention.
    maxWorkers: 2,
    // One project per tier (docs/testing.md); `npm test` runs them one after another.
    projects: TIERS.map((tier) => ({
      extends: true,
      test: {
        name: tier.name,
        include: includeGlobs(tier),
        exclude: [...configDefaults.exclude, ...excludeGlobs(tier)],
        globalSetup: NEEDS_SHARED_SERVERS.includes(tier.name) ? ["test/support/global-setup.ts"] : [],
      },
    })),
  },
});
