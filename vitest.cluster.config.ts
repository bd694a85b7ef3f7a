import { defineConfig } from "vitest/config";

// The cluster tier (npm run test:cluster): tests that need real systems besides Node.
export default defineConfig({
  test: {
    projects: [
      {
        // Real etcd, kube-apiserver, kube-controller-manager and Crossplane core, started once by
        // test/cluster/setup.ts. Files run one after another: they share that one cluster.
        test: {
          name: "cluster",
          include: ["test/cluster/**/*.test.ts"],
          globalSetup: ["test/cluster/setup.ts"],
          fileParallelism: false,
          testTimeout: 180_000,
          hookTimeout: 600_000,
        },
      },
      {
        // ArgoCD's health checks under Debian's lua5.1; the alert rules under Debian's promtool.
        test: { name: "debian-tools", include: ["test/argocd/**/*.test.ts", "test/monitoring/**/*.test.ts"], testTimeout: 60_000 },
      },
    ],
  },
});
