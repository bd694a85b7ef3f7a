// What the function asks the platform team to grant when Kubernetes refuses a call. The refusals are the API
// server's own texts (test/cluster/rbac.test.ts checks the real server still words them so).
import { describe, expect, it } from "vitest";
import { grantHint, identityIn } from "./identity.ts";

const cases: Record<string, { refusal: string; want: string }> = {
  OwnServiceAccountMayNotImpersonate: {
    refusal:
      'users "system:serviceaccount:team-a:azplatform-secret-rotation" is forbidden: User "system:serviceaccount:crossplane-system:function-azure-platform" cannot impersonate resource "serviceaccounts" in API group "" in the namespace "team-a"',
    want: "let the function's own ServiceAccount impersonate ServiceAccount azplatform-secret-rotation (ClusterRole and ClusterRoleBinding function-azure-platform in examples/install/rbac.yaml)",
  },
  OwnServiceAccountMayNotImpersonateConstrained: {
    // Kubernetes 1.36, with constrained impersonation (KEP-5284).
    refusal:
      'secrets "app-db" is forbidden: User "system:serviceaccount:crossplane-system:function-azure-platform" cannot impersonate-on:serviceaccount:get resource "secrets" in API group "" in the namespace "team-a"',
    want: "let the function's own ServiceAccount impersonate ServiceAccount azplatform-secret-rotation (ClusterRole and ClusterRoleBinding function-azure-platform in examples/install/rbac.yaml)",
  },
  NamespaceHasNotOptedIn: {
    refusal: 'secrets "app-db" is forbidden: User "system:serviceaccount:team-a:azplatform-secret-rotation" cannot get resource "secrets" in API group "" in the namespace "team-a"',
    want: "bind ClusterRole function-azure-platform-rotation to ServiceAccount azplatform-secret-rotation in namespace team-a (examples/install/rbac.yaml)",
  },
};

describe("grantHint", () => {
  for (const [name, { refusal, want }] of Object.entries(cases)) it(name, () => expect(grantHint("team-a", refusal)).toBe(want));
  it("the identity is the namespace's ServiceAccount", () => expect(identityIn("team-a")).toBe("system:serviceaccount:team-a:azplatform-secret-rotation"));
});
