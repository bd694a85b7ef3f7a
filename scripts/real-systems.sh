#!/usr/bin/env bash
# Provides the real systems the cluster test tier runs against, in a cache directory:
#   <cache>/k8s/<k8s>-linux-amd64/{etcd,kube-apiserver,kube-controller-manager,kubectl}   (envtest's layout)
#   <cache>/crossplane-core/<core>/crossplane   and its CRDs in <cache>/crossplane-core/<core>/crds/
#   <cache>/crossplane-cli/<cli>/crossplane   (the CLI whose `crossplane render` the tier compares ours with)
# and prints one `export NAME=path` line per system for the test tier (or use `--print-env`).
#
# What is given is reused:
#   KUBEBUILDER_ASSETS            a directory with etcd, kube-apiserver, kubectl (from `setup-envtest use`);
#                                 kube-controller-manager is taken from there when present, else built
#   CROSSPLANE_CORE_BINARY        Crossplane core (`crossplane core start`), with CROSSPLANE_CORE_CRDS (its CRDs)
#   CROSSPLANE_CLI_BINARY         the crossplane CLI (its `crossplane render`)
# Anything missing is built from its published sources through the Go module proxy. Binaries are never
# committed; nothing here is source code of those systems, only the versions to build.
set -euo pipefail

# Versions: the one place they are pinned. etcd is the one Kubernetes ${K8S_VERSION} pins in its go.mod.
K8S_VERSION=1.36.3
ETCD_VERSION=3.6.8
CROSSPLANE_CORE_VERSION=2.3.4
CROSSPLANE_CLI_VERSION=2.5.0

# Both crossplane binaries read their version from crossplane-runtime.
stamp=github.com/crossplane/crossplane-runtime/v2/pkg/version.version

cache="${REAL_SYSTEMS_CACHE:-$HOME/.cache/function-azure-platform/real-systems}"
mode="${1:-}"
log() { [ "$mode" = "--print-env" ] && return 0; echo "real-systems: $*" >&2; }

export GOFLAGS=-modcacherw GOTOOLCHAIN=local CGO_ENABLED=0
export GOMODCACHE="${GOMODCACHE:-$cache/go/mod}"
export GOCACHE="${GOCACHE:-$HOME/.cache/go-build}"

need_go() {
  command -v go >/dev/null || { echo "real-systems: $1 is missing and Go is not installed to build it;" \
    "install Go ≥ 1.26 or point ${2} at a binary" >&2; exit 1; }
}

# A wrapper module: Go ignores replace directives in dependencies, so the releases that point their own
# modules at local directories are built from a module that requires them at their published versions.
wrapper() { # dir
  rm -rf "$1" && mkdir -p "$1" && (cd "$1" && go mod init local.invalid/real-systems >/dev/null 2>&1)
}

# Everything lands under a temporary name first and is renamed into place once whole: an interrupted build or copy
# never leaves a truncated binary or half a CRD directory that a later run would take as done.
install_into() { # built-file-or-dir target
  rm -rf "$2.old" && { [ ! -e "$2" ] || mv "$2" "$2.old"; } && mv "$1" "$2" && rm -rf "$2.old"
}

k8s_dir="$cache/k8s/$K8S_VERSION-linux-amd64"
build_kubernetes() { # binaries...
  need_go "kubernetes $*" KUBEBUILDER_ASSETS
  local src="$cache/src/kubernetes-$K8S_VERSION" minor="${K8S_VERSION#*.}"; minor="${minor%%.*}"
  log "building $* from k8s.io/kubernetes v$K8S_VERSION (from nothing: about 20 min on 2 cores)"
  wrapper "$src"
  (
    cd "$src"
    go mod edit -go=1.26.0 -require="k8s.io/kubernetes@v$K8S_VERSION"
    local gomod; gomod=$(go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
    # Every staging module the release requires at v0.0.0 is published as v0.<minor>.<patch>.
    go mod edit -json "$gomod" | node -e '
      const mod = JSON.parse(require("fs").readFileSync(0, "utf8"));
      const required = new Set(mod.Require.map((r) => r.Path));
      for (const r of mod.Replace ?? []) if (r.New.Path.startsWith("./staging/") && required.has(r.Old.Path))
        console.log(r.Old.Path);' |
      while read -r m; do go mod edit -replace="$m=$m@v0.${K8S_VERSION#*.}"; done
    go mod edit -godebug=default=go1.26
    local pkgs=(); for b in "$@"; do pkgs+=("k8s.io/kubernetes/cmd/$b"); done
    go get "${pkgs[@]/%/@v$K8S_VERSION}"
    local v=k8s.io/component-base/version c=k8s.io/client-go/pkg/version
    local ld="-s -w" x
    for x in $v $c; do
      ld+=" -X $x.gitVersion=v$K8S_VERSION -X $x.gitMajor=1 -X $x.gitMinor=$minor -X $x.gitTreeState=clean"
    done
    mkdir -p "$k8s_dir/.partial"
    go build -trimpath -ldflags "$ld" -o "$k8s_dir/.partial/" "${pkgs[@]}"
    for b in "$@"; do install_into "$k8s_dir/.partial/$b" "$k8s_dir/$b"; done
  )
}

build_etcd() {
  need_go etcd KUBEBUILDER_ASSETS
  local src="$cache/src/etcd-$ETCD_VERSION"
  log "building etcd v$ETCD_VERSION"
  wrapper "$src"
  (
    cd "$src"
    go get "go.etcd.io/etcd/server/v3@v$ETCD_VERSION"
    mkdir -p "$k8s_dir/.partial"
    go build -trimpath -ldflags "-s -w" -o "$k8s_dir/.partial/etcd" go.etcd.io/etcd/server/v3
    install_into "$k8s_dir/.partial/etcd" "$k8s_dir/etcd"
  )
}

core_dir="$cache/crossplane-core/v$CROSSPLANE_CORE_VERSION"
build_crossplane_core() {
  need_go "Crossplane core" CROSSPLANE_CORE_BINARY
  local src="$cache/src/crossplane-core-$CROSSPLANE_CORE_VERSION" m=github.com/crossplane/crossplane
  log "building Crossplane core v$CROSSPLANE_CORE_VERSION"
  wrapper "$src"
  (
    cd "$src"
    # The release replaces its apis module with ./apis; the published apis module of the same tag is that.
    go mod edit -replace="$m/apis/v2=$m/apis/v2@v$CROSSPLANE_CORE_VERSION"
    go get "$m/v2/cmd/crossplane@v$CROSSPLANE_CORE_VERSION"
    mkdir -p "$core_dir/.partial"
    go build -trimpath -ldflags "-s -w -X $stamp=v$CROSSPLANE_CORE_VERSION" \
      -o "$core_dir/.partial/crossplane" "$m/v2/cmd/crossplane"
    rm -rf "$core_dir/.partial/crds" && cp -r "$(go list -m -f '{{.Dir}}' "$m/v2")/cluster/crds" "$core_dir/.partial/crds"
    chmod -R u+w "$core_dir/.partial/crds"
    install_into "$core_dir/.partial/crds" "$core_dir/crds"
    install_into "$core_dir/.partial/crossplane" "$core_dir/crossplane"
  )
}

cli_dir="$cache/crossplane-cli/v$CROSSPLANE_CLI_VERSION"
build_crossplane_cli() {
  need_go "the crossplane CLI" CROSSPLANE_CLI_BINARY
  local src="$cache/src/crossplane-cli-$CROSSPLANE_CLI_VERSION" m=github.com/crossplane/cli/v2
  log "building the crossplane CLI v$CROSSPLANE_CLI_VERSION"
  # Not `go install …@version`: it asks the proxy for the module's version list (deprecations), which the proxy
  # here refuses for this module (403); an exact version through a wrapper module is served.
  wrapper "$src"
  (
    cd "$src"
    go get "$m/cmd/crossplane@v$CROSSPLANE_CLI_VERSION"
    mkdir -p "$cli_dir/.partial"
    go build -trimpath -ldflags "-s -w -X $stamp=v$CROSSPLANE_CLI_VERSION" -o "$cli_dir/.partial/crossplane" "$m/cmd/crossplane"
    install_into "$cli_dir/.partial/crossplane" "$cli_dir/crossplane"
  )
}

# Kubernetes: envtest's assets when given, else the cache, else a build.
if [ -n "${KUBEBUILDER_ASSETS:-}" ]; then
  assets="$KUBEBUILDER_ASSETS"
  for b in etcd kube-apiserver kubectl; do
    [ -x "$assets/$b" ] || { echo "real-systems: KUBEBUILDER_ASSETS=$assets has no $b (setup-envtest provides etcd, kube-apiserver and kubectl)" >&2; exit 1; }
  done
  controller_manager="$assets/kube-controller-manager"
  if [ ! -x "$controller_manager" ]; then
    controller_manager="$k8s_dir/kube-controller-manager"
    [ -x "$controller_manager" ] || build_kubernetes kube-controller-manager
  fi
else
  assets="$k8s_dir"
  missing=()
  for b in kube-apiserver kube-controller-manager kubectl; do [ -x "$k8s_dir/$b" ] || missing+=("$b"); done
  [ ${#missing[@]} -eq 0 ] || build_kubernetes "${missing[@]}"
  [ -x "$k8s_dir/etcd" ] || build_etcd
  controller_manager="$k8s_dir/kube-controller-manager"
fi

if [ -n "${CROSSPLANE_CORE_BINARY:-}" ]; then
  core="$CROSSPLANE_CORE_BINARY"; core_crds="${CROSSPLANE_CORE_CRDS:?CROSSPLANE_CORE_CRDS must name core\'s CRD directory}"
else
  [ -x "$core_dir/crossplane" ] && [ -d "$core_dir/crds" ] || build_crossplane_core
  core="$core_dir/crossplane"; core_crds="$core_dir/crds"
fi

if [ -n "${CROSSPLANE_CLI_BINARY:-}" ]; then
  cli="$CROSSPLANE_CLI_BINARY"
else
  [ -x "$cli_dir/crossplane" ] || build_crossplane_cli
  cli="$cli_dir/crossplane"
fi

cat <<EOF
export KUBEBUILDER_ASSETS='$assets'
export KUBE_CONTROLLER_MANAGER_BINARY='$controller_manager'
export CROSSPLANE_CORE_BINARY='$core'
export CROSSPLANE_CORE_CRDS='$core_crds'
export CROSSPLANE_CLI_BINARY='$cli'
EOF
