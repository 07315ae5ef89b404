#!/usr/bin/env bash
# Validates what cannot run on a test machine: the container image recipe (hadolint), the
# Kubernetes manifests against the Kubernetes API schemas (kubernetes-validate, strict:
# unknown fields are errors), the systemd unit (systemd-analyze verify, any complaint is a
# failure) and every gateway.json under Deploy/ (JSON Schema and `tokengate check`).
# Called by scripts/test.sh after the build; expects its venv and a debug build.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.build-interop/venv
bin="$(swift build --show-bin-path)/tokengate"
kubernetes_version=1.33.0
fail() { echo "check-deploy: $*" >&2; exit 1; }

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
if ! command -v systemd-analyze >/dev/null 2>&1; then
  echo "==> installing systemd (for systemd-analyze verify)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends systemd >/dev/null
fi

echo "==> hadolint Deploy/Dockerfile"
"$venv/bin/hadolint" --failure-threshold info Deploy/Dockerfile

echo "==> kubernetes-validate (Kubernetes $kubernetes_version, strict)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The ConfigMap kustomize generates from gateway.json, written out so it is validated too.
"$venv/bin/python" - "$work/configmap.yaml" <<'PY'
import json, sys, yaml
with open("Deploy/kubernetes/kustomization.yaml") as f:
    kustomization = yaml.safe_load(f)
for resource in kustomization["resources"]:
    with open(f"Deploy/kubernetes/{resource}") as f:
        list(yaml.safe_load_all(f))
documents = []
for generator in kustomization["configMapGenerator"]:
    data = {}
    for name in generator["files"]:
        with open(f"Deploy/kubernetes/{name}") as f:
            data[name] = f.read()
    documents.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": generator["name"]}, "data": data})
with open(sys.argv[1], "w") as f:
    yaml.safe_dump_all(documents, f)
PY
"$venv/bin/kubernetes-validate" --strict --kubernetes-version "$kubernetes_version" \
  Deploy/kubernetes/deployment.yaml Deploy/kubernetes/service.yaml Deploy/kubernetes/secret.yaml Deploy/kubernetes/postgres.yaml "$work/configmap.yaml"

echo "==> systemd-analyze verify Deploy/systemd/tokengate.service"
# The unit names the installed paths; verify a copy that points at this build instead.
mkdir -p "$work/systemd"
sed -e "s|/usr/local/bin/tokengate|$PWD/${bin#"$PWD"/}|g" \
    -e "s|EnvironmentFile=/etc/tokengate/secrets.env|EnvironmentFile=$PWD/Deploy/systemd/secrets.env.example|" \
    Deploy/systemd/tokengate.service > "$work/systemd/tokengate.service"
complaints=$(systemd-analyze verify "$work/systemd/tokengate.service" 2>&1) || fail "systemd-analyze verify failed: $complaints"
[ -z "$complaints" ] || fail "systemd-analyze verify complained: $complaints"

echo "==> Deploy/compose.yaml"
"$venv/bin/python" - <<'PY'
import os, yaml
with open("Deploy/compose.yaml") as f:
    compose = yaml.safe_load(f)
for name, service in compose["services"].items():
    build = service.get("build")
    if build:
        context = os.path.join("Deploy", build["context"])
        assert os.path.isfile(os.path.join(context, build["dockerfile"])), f"{name}: no {build['dockerfile']}"
    for volume in service.get("volumes", []):
        source = volume.split(":")[0]
        assert os.path.exists(os.path.join("Deploy", source)), f"{name}: no {source}"
PY

echo "==> gateway.json files in Deploy/ (schema, tokengate check without their secrets)"
for config in $(git ls-files 'Deploy/*gateway*.json'); do
  "$venv/bin/check-jsonschema" --schemafile gateway.schema.json "$config"
  "$bin" check --no-secrets "$config"
done
