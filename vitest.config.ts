import { configDefaults, defineConfig } from "vitest/config";
import { BUNDLE_ENTRY } from "./scripts/bundle.ts";

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    projects: [
      {
        extends: true,
        test: {
          name: "source",
          include: ["functions/**/*.test.ts", "cli/**/*.test.ts", "test/**/*.test.ts", "scripts/**/*.test.ts"],
          // The cluster tier (real systems, and Debian's lua5.1 and promtool) runs on its own: npm run test:cluster.
          exclude: [...configDefaults.exclude, "test/cluster/**", "test/argocd/**", "test/monitoring/**"],
        },
      },
      {
        // The end-to-end suite again, against the bundle the image runs (npm run bundle).
        extends: true,
        test: { name: "bundle", include: ["test/e2e/**/*.test.ts"], globalSetup: ["test/support/bundle-setup.ts"], env: { FUNCTION_SERVER_ENTRY: BUNDLE_ENTRY } },
      },
    ],
  },
});
