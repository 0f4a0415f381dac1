// Package check validates deploy/ offline, with the same libraries the real tools use:
// kustomize's krusty builds the Kubernetes overlays and every object is decoded strictly
// into the k8s.io/api types; compose-go loads compose.yaml with schema validation and
// interpolation; Prometheus's rulefmt, config and PromQL parser read the alert rules, the
// scrape config and every query of the dashboard; BuildKit's parser reads the Dockerfile.
// Then semantic checks: probes, resources, non-root, secrets only by reference, metric
// names that exist, alert names the runbooks use.
//
// It is a module of its own so that these heavy dependencies never enter the main module's
// graph. `make test` runs it: cd deploy/check && go vet ./... && go test ./...
// It also holds cmd/httpprobe, the healthcheck binary of the distroless image.
package check
