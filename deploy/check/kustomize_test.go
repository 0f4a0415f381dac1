package check

import (
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// manifests are the objects a kustomization builds, decoded into the API's Go types.
type manifests struct {
	deployments map[string]*appsv1.Deployment
	services    map[string]*corev1.Service
	configMaps  map[string]*corev1.ConfigMap
	jobs        map[string]*batchv1.Job
	pdbs        map[string]*policyv1.PodDisruptionBudget
	hpas        map[string]*autoscalingv2.HorizontalPodAutoscaler
	namespaces  map[string]*corev1.Namespace
	// objects is every object's metadata, for checks across kinds.
	objects []metav1.Object
}

// kinds are the only kinds the manifests may hold. A Secret is deliberately not among
// them: secret values never live in the manifests.
var kinds = map[string]func(m *manifests, name string) any{
	"apps/v1 Deployment": func(m *manifests, n string) any { return put(m.deployments, n, &appsv1.Deployment{}) },
	"v1 Service":         func(m *manifests, n string) any { return put(m.services, n, &corev1.Service{}) },
	"v1 ConfigMap":       func(m *manifests, n string) any { return put(m.configMaps, n, &corev1.ConfigMap{}) },
	"v1 Namespace":       func(m *manifests, n string) any { return put(m.namespaces, n, &corev1.Namespace{}) },
	"batch/v1 Job":       func(m *manifests, n string) any { return put(m.jobs, n, &batchv1.Job{}) },
	"policy/v1 PodDisruptionBudget": func(m *manifests, n string) any {
		return put(m.pdbs, n, &policyv1.PodDisruptionBudget{})
	},
	"autoscaling/v2 HorizontalPodAutoscaler": func(m *manifests, n string) any {
		return put(m.hpas, n, &autoscalingv2.HorizontalPodAutoscaler{})
	},
}

func put[T any](into map[string]*T, name string, obj *T) *T {
	into[name] = obj
	return obj
}

// build runs kustomize in-process (what `kubectl apply -k` runs) and decodes every object
// strictly: an unknown field, a duplicate field or a wrong type is an error, as the API
// server's strict field validation would report it.
func build(t *testing.T, dir string) *manifests {
	t.Helper()
	rm, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	m := &manifests{
		deployments: map[string]*appsv1.Deployment{}, services: map[string]*corev1.Service{},
		configMaps: map[string]*corev1.ConfigMap{}, jobs: map[string]*batchv1.Job{},
		pdbs:       map[string]*policyv1.PodDisruptionBudget{},
		hpas:       map[string]*autoscalingv2.HorizontalPodAutoscaler{},
		namespaces: map[string]*corev1.Namespace{},
	}
	for _, r := range rm.Resources() {
		kind := r.GetApiVersion() + " " + r.GetKind()
		id := kind + " " + r.GetName()
		if r.GetKind() == "Secret" {
			t.Errorf("%s: Secrets must not be in the manifests, only referenced", id)
			continue
		}
		newObj, ok := kinds[kind]
		if !ok {
			t.Errorf("%s: kind not expected here (add it to kinds if it is meant to be)", id)
			continue
		}
		b, err := r.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		obj := newObj(m, r.GetName())
		strict, err := kjson.UnmarshalStrict(b, obj)
		if err != nil {
			t.Errorf("%s: %v", id, err)
		}
		for _, e := range strict {
			t.Errorf("%s: %v", id, e)
		}
		if o, ok := obj.(metav1.Object); ok {
			m.objects = append(m.objects, o)
		}
	}
	return m
}

// TestKustomizeBase checks the base as built, and that its policy is the code's default.
func TestKustomizeBase(t *testing.T) {
	m := build(t, deployPath("k8s", "base"))
	checkManifests(t, m)
	policy := m.configMapByPrefix(t, "orders-policy").Data["policy.yaml"]
	if policy != readFile(t, repoPath("internal", "policy", "default.yaml")) {
		t.Error("deploy/k8s/base/policy.yaml differs from internal/policy/default.yaml: copy it again (cp internal/policy/default.yaml deploy/k8s/base/policy.yaml)")
	}
}

// TestKustomizeProduction checks the production overlay as built, and what it must change
// from the base: a namespace, a pinned image, more replicas and resources, JSON logs.
func TestKustomizeProduction(t *testing.T) {
	base := build(t, deployPath("k8s", "base"))
	m := build(t, deployPath("k8s", "overlays", "production"))
	checkManifests(t, m)
	if len(m.namespaces) != 1 {
		t.Fatalf("%d Namespace objects, want 1", len(m.namespaces))
	}
	for ns := range m.namespaces {
		for _, o := range m.objects {
			if _, isNS := m.namespaces[o.GetName()]; !isNS && o.GetNamespace() != ns {
				t.Errorf("%s is in namespace %q, want %q", o.GetName(), o.GetNamespace(), ns)
			}
		}
	}
	for _, pod := range m.podTemplates() {
		for _, c := range pod.spec.Containers {
			name, tag, _ := strings.Cut(c.Image, ":")
			if !strings.Contains(c.Image, "@sha256:") && (!strings.Contains(name, "/") || tag == "" || tag == "latest") {
				t.Errorf("%s: image %q is not pinned to a registry and a release tag or digest", pod.name, c.Image)
			}
		}
	}
	if f := m.configMapByPrefix(t, "orders-config").Data["LOG_FORMAT"]; f != "json" {
		t.Errorf("LOG_FORMAT=%q, want json", f)
	}
	if b, p := base.deployments["orders-api"].Spec.Replicas, m.deployments["orders-api"].Spec.Replicas; b == nil || p == nil || *p <= *b {
		t.Error("production runs no more API replicas than the base")
	}
	if b, p := base.hpas["orders-worker"].Spec.MinReplicas, m.hpas["orders-worker"].Spec.MinReplicas; b == nil || p == nil || *p <= *b {
		t.Error("production runs no more worker replicas than the base")
	}
	for name, d := range m.deployments {
		bc, pc := base.deployments[name].Spec.Template.Spec.Containers[0], d.Spec.Template.Spec.Containers[0]
		for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if q := pc.Resources.Requests[res]; q.Cmp(bc.Resources.Requests[res]) <= 0 {
				t.Errorf("%s: production %s request is not above the base's", name, res)
			}
		}
	}
}

// checkManifests holds the rules every build must keep.
func checkManifests(t *testing.T, m *manifests) {
	t.Helper()
	secretKeys := documentedSecretKeys(t)
	for _, pod := range m.podTemplates() {
		checkPod(t, m, pod, secretKeys)
	}
	for name, d := range m.deployments {
		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		if err != nil || sel.Empty() || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			t.Errorf("Deployment %s: selector does not match its pod template", name)
		}
	}
	for name, j := range m.jobs {
		c := j.Spec.Template.Spec.Containers
		if len(c) != 1 || !slices.Contains(append(slices.Clone(c[0].Command), c[0].Args...), "migrate") {
			t.Errorf("Job %s: does not run `orders migrate`", name)
		}
		if rp := j.Spec.Template.Spec.RestartPolicy; rp != corev1.RestartPolicyNever && rp != corev1.RestartPolicyOnFailure {
			t.Errorf("Job %s: restartPolicy %q", name, rp)
		}
	}
	if len(m.jobs) != 1 {
		t.Errorf("%d Jobs, want the one migration Job", len(m.jobs))
	}
	protected := map[string]bool{}
	for name, pdb := range m.pdbs {
		matched := m.deploymentsSelectedBy(pdb.Spec.Selector)
		if len(matched) != 1 {
			t.Errorf("PodDisruptionBudget %s selects Deployments %v, want exactly one", name, matched)
		}
		for _, d := range matched {
			protected[d] = true
		}
	}
	for name := range m.deployments {
		if !protected[name] {
			t.Errorf("Deployment %s has no PodDisruptionBudget", name)
		}
	}
	for name, h := range m.hpas {
		ref := h.Spec.ScaleTargetRef
		d, ok := m.deployments[ref.Name]
		if ref.Kind != "Deployment" || ref.APIVersion != "apps/v1" || !ok {
			t.Errorf("HorizontalPodAutoscaler %s targets %s %s, not a Deployment here", name, ref.Kind, ref.Name)
			continue
		}
		if d.Spec.Replicas != nil {
			t.Errorf("Deployment %s sets replicas although %s scales it: every apply would reset the count", d.Name, name)
		}
		if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas < 2 || h.Spec.MaxReplicas < *h.Spec.MinReplicas {
			t.Errorf("HorizontalPodAutoscaler %s: want 2 <= minReplicas <= maxReplicas", name)
		}
	}
	if _, ok := m.hpas["orders-worker"]; !ok {
		t.Error("no HorizontalPodAutoscaler orders-worker")
	}
	for name, s := range m.services {
		matched := m.deploymentsSelectedBy(&metav1.LabelSelector{MatchLabels: s.Spec.Selector})
		if len(matched) != 1 {
			t.Errorf("Service %s selects Deployments %v, want exactly one", name, matched)
			continue
		}
		for _, p := range s.Spec.Ports {
			if _, ok := containerPort(m.deployments[matched[0]].Spec.Template.Spec.Containers[0], p.TargetPort.String()); !ok {
				t.Errorf("Service %s: targetPort %s is no port of %s", name, p.TargetPort.String(), matched[0])
			}
		}
	}
	for name, cm := range m.configMaps {
		for k := range cm.Data {
			if secretLike(k) {
				t.Errorf("ConfigMap %s holds %s: secret values belong in the Secret", name, k)
			}
		}
	}
}

// podTemplate is a pod spec with where it comes from and whether it serves (Deployment).
type podTemplate struct {
	name    string
	serving bool
	spec    *corev1.PodSpec
}

func (m *manifests) podTemplates() []podTemplate {
	var out []podTemplate
	for name, d := range m.deployments {
		out = append(out, podTemplate{"Deployment " + name, true, &d.Spec.Template.Spec})
	}
	for name, j := range m.jobs {
		out = append(out, podTemplate{"Job " + name, false, &j.Spec.Template.Spec})
	}
	return out
}

// checkPod: non-root and locked down, sized, secrets by reference only, and for serving
// pods probes on a port the process listens on and a grace period above its shutdown.
func checkPod(t *testing.T, m *manifests, pod podTemplate, secretKeys map[string]bool) {
	t.Helper()
	ps := pod.spec
	if ps.SecurityContext == nil || ps.SecurityContext.RunAsNonRoot == nil || !*ps.SecurityContext.RunAsNonRoot {
		t.Errorf("%s: pod securityContext.runAsNonRoot is not true", pod.name)
	}
	if ps.AutomountServiceAccountToken == nil || *ps.AutomountServiceAccountToken {
		t.Errorf("%s: the pod mounts a service account token it does not need", pod.name)
	}
	for _, v := range ps.Volumes {
		if v.ConfigMap != nil && m.configMaps[v.ConfigMap.Name] == nil {
			t.Errorf("%s: volume %s refers to ConfigMap %s, not in the manifests", pod.name, v.Name, v.ConfigMap.Name)
		}
		if v.Secret != nil && v.Secret.SecretName != "orders-secrets" {
			t.Errorf("%s: volume %s refers to Secret %s", pod.name, v.Name, v.Secret.SecretName)
		}
	}
	for _, c := range ps.Containers {
		where := pod.name + " container " + c.Name
		for _, kind := range []corev1.ResourceList{c.Resources.Requests, c.Resources.Limits} {
			for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
				if q, ok := kind[res]; !ok || q.IsZero() {
					t.Errorf("%s: no %s request and limit", where, res)
				}
			}
		}
		sc := c.SecurityContext
		if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
			sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
			sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
			t.Errorf("%s: securityContext must set readOnlyRootFilesystem, allowPrivilegeEscalation false, drop ALL", where)
		}
		env := containerEnv(t, m, where, c, secretKeys)
		if !pod.serving {
			continue
		}
		checkProbes(t, where, c, env)
		grace := int64(30) // the API's default when unset
		if ps.TerminationGracePeriodSeconds != nil {
			grace = *ps.TerminationGracePeriodSeconds
		}
		shutdown, err := time.ParseDuration(cmp(env["SHUTDOWN_TIMEOUT"], "25s"))
		if err != nil || time.Duration(grace)*time.Second <= shutdown {
			t.Errorf("%s: terminationGracePeriodSeconds %d is not above SHUTDOWN_TIMEOUT %s", where, grace, shutdown)
		}
		if (env["ORDERS_ROLES"] == "api") != (env["API_TOKENS"] != "") {
			t.Errorf("%s: API_TOKENS must be given to API pods, and only to them", where)
		}
	}
}

// containerEnv returns the container's environment as the process sees it (ConfigMap
// values, literal values, "secret:KEY" for references), failing on any secret-like
// variable that is not a reference to the documented Secret.
func containerEnv(t *testing.T, m *manifests, where string, c corev1.Container, secretKeys map[string]bool) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, from := range c.EnvFrom {
		switch {
		case from.ConfigMapRef != nil:
			cm := m.configMaps[from.ConfigMapRef.Name]
			if cm == nil {
				t.Errorf("%s: envFrom ConfigMap %s is not in the manifests", where, from.ConfigMapRef.Name)
				continue
			}
			for k, v := range cm.Data {
				env[k] = v
			}
		case from.SecretRef != nil && from.SecretRef.Name != "orders-secrets":
			t.Errorf("%s: envFrom Secret %s, want orders-secrets", where, from.SecretRef.Name)
		}
	}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			if ref.Name != "orders-secrets" || !secretKeys[ref.Key] {
				t.Errorf("%s: %s from Secret %s key %s: want a key of orders-secrets that deploy/README.md documents", where, e.Name, ref.Name, ref.Key)
			}
			env[e.Name] = "secret:" + ref.Key
		case secretLike(e.Name):
			t.Errorf("%s: %s must come from the Secret (secretKeyRef), not be written here", where, e.Name)
		default:
			env[e.Name] = e.Value
		}
	}
	return env
}

// checkProbes: liveness and readiness (and startup, if any) are HTTP GETs on a port the
// container declares, and that port is the one the process serves them on: API_ADDR where
// the process runs the API, METRICS_ADDR for a worker-only process (its only listener,
// where cmd/orders serves a worker's /healthz and /readyz).
func checkProbes(t *testing.T, where string, c corev1.Container, env map[string]string) {
	t.Helper()
	probes := map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe, "startup": c.StartupProbe}
	for kind, p := range probes {
		if p == nil {
			if kind != "startup" {
				t.Errorf("%s: no %s probe", where, kind)
			}
			continue
		}
		if p.HTTPGet == nil {
			t.Errorf("%s: %s probe is not an HTTP GET", where, kind)
			continue
		}
		port, ok := containerPort(c, p.HTTPGet.Port.String())
		if !ok {
			t.Errorf("%s: %s probe port %s is not a container port", where, kind, p.HTTPGet.Port.String())
			continue
		}
		addr := "API_ADDR"
		if env["ORDERS_ROLES"] == "worker" {
			addr = "METRICS_ADDR"
		}
		if !slices.Contains([]string{"/healthz", "/readyz"}, p.HTTPGet.Path) {
			t.Errorf("%s: %s probe path %s is served by no listener", where, kind, p.HTTPGet.Path)
		}
		if _, want, _ := net.SplitHostPort(cmp(env[addr], map[string]string{"API_ADDR": ":8080", "METRICS_ADDR": "127.0.0.1:9464"}[addr])); fmt.Sprint(port) != want {
			t.Errorf("%s: %s probe on port %d, but %s listens on %s", where, kind, port, addr, want)
		}
		if addr == "METRICS_ADDR" && strings.HasPrefix(env[addr], "127.") {
			t.Errorf("%s: METRICS_ADDR %s is loopback: the kubelet cannot probe it", where, env[addr])
		}
	}
	if (env["ORDERS_ROLES"] == "api" || env["ORDERS_ROLES"] == "worker") && (c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz") {
		t.Errorf("%s: a pod is ready when /readyz says so", where)
	}
}

// containerPort resolves a port given by name or number among the container's ports.
func containerPort(c corev1.Container, port string) (int32, bool) {
	for _, p := range c.Ports {
		if p.Name == port || fmt.Sprint(p.ContainerPort) == port {
			return p.ContainerPort, true
		}
	}
	return 0, false
}

func (m *manifests) deploymentsSelectedBy(ls *metav1.LabelSelector) []string {
	sel, err := metav1.LabelSelectorAsSelector(ls)
	if err != nil || sel.Empty() {
		return nil
	}
	var out []string
	for name, d := range m.deployments {
		if sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// configMapByPrefix finds a generated ConfigMap (its name carries a content hash).
func (m *manifests) configMapByPrefix(t *testing.T, prefix string) *corev1.ConfigMap {
	t.Helper()
	for name, cm := range m.configMaps {
		if strings.HasPrefix(name, prefix+"-") || name == prefix {
			return cm
		}
	}
	t.Fatalf("no ConfigMap %s", prefix)
	return nil
}

// documentedSecretKeys are the keys of orders-secrets that deploy/README.md names (as
// `KEY` in its Secret section); a reference to any other key is an error.
func documentedSecretKeys(t *testing.T) map[string]bool {
	t.Helper()
	readme := readFile(t, deployPath("README.md"))
	keys := map[string]bool{}
	for _, k := range []string{"DATABASE_URL", "MIGRATE_DATABASE_URL", "API_TOKENS", "KEY_ENCRYPTION_KEYS", "KEY_ENCRYPTION_KEY_ID"} {
		if strings.Contains(readme, "`"+k+"`") {
			keys[k] = true
		}
	}
	return keys
}

func cmp(v, fallback string) string {
	if v == "" {
		return fallback
	}
	return v
}
