// Package deploy holds paw's Kubernetes manifests (kustomize base and
// overlays), its Dockerfile and the local cluster test; it is a module of
// its own so that paw's module does not depend on the Kubernetes API types
// or on the S3 server the cluster test builds.
package deploy

import (
	"fmt"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// rendered is one kustomization's objects, decoded strictly into the
// official types: an unknown or misspelt field is an error.
type rendered struct {
	deployments []*appsv1.Deployment
	services    []*corev1.Service
	configMaps  []*corev1.ConfigMap
	secrets     []*corev1.Secret
	pdbs        []*policyv1.PodDisruptionBudget
	hpas        []*autoscalingv2.HorizontalPodAutoscaler
	ingresses   []*networkingv1.Ingress
}

// render builds dir with kustomize (as `kubectl kustomize dir`) and
// decodes every object strictly.
func render(t *testing.T, dir string) *rendered {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize %s: %v", dir, err)
	}
	var r rendered
	for _, res := range m.Resources() {
		b, err := res.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		into := map[string]any{
			"Deployment": &r.deployments, "Service": &r.services, "ConfigMap": &r.configMaps, "Secret": &r.secrets,
			"PodDisruptionBudget": &r.pdbs, "HorizontalPodAutoscaler": &r.hpas, "Ingress": &r.ingresses,
		}[res.GetKind()]
		if into == nil {
			t.Errorf("%s: unexpected kind %s", dir, res.GetKind())
			continue
		}
		if err := decodeStrict(b, into); err != nil {
			t.Errorf("%s: %s %s: %v", dir, res.GetKind(), res.GetName(), err)
		}
	}
	return &r
}

// decodeStrict appends the object in b to the slice at into.
func decodeStrict(b []byte, into any) error {
	switch s := into.(type) {
	case *[]*appsv1.Deployment:
		return appendStrict(b, s)
	case *[]*corev1.Service:
		return appendStrict(b, s)
	case *[]*corev1.ConfigMap:
		return appendStrict(b, s)
	case *[]*corev1.Secret:
		return appendStrict(b, s)
	case *[]*policyv1.PodDisruptionBudget:
		return appendStrict(b, s)
	case *[]*autoscalingv2.HorizontalPodAutoscaler:
		return appendStrict(b, s)
	case *[]*networkingv1.Ingress:
		return appendStrict(b, s)
	}
	return fmt.Errorf("no type for %T", into)
}

func appendStrict[T any](b []byte, s *[]*T) error {
	v := new(T)
	if err := yaml.UnmarshalStrict(b, v); err != nil {
		return err
	}
	*s = append(*s, v)
	return nil
}

func TestManifests(t *testing.T) {
	for _, dir := range []string{"base", "overlays/example"} {
		t.Run(strings.ReplaceAll(dir, "/", "_"), func(t *testing.T) {
			r := render(t, dir)
			if len(r.deployments) != 1 || len(r.services) != 1 || len(r.pdbs) != 1 || len(r.hpas) != 1 ||
				len(r.configMaps) != 1 || len(r.secrets) != 2 || len(r.ingresses) != 1 {
				t.Fatalf("objects: %d deployments, %d services, %d PDBs, %d HPAs, %d config maps, %d secrets, %d ingresses",
					len(r.deployments), len(r.services), len(r.pdbs), len(r.hpas), len(r.configMaps), len(r.secrets), len(r.ingresses))
			}
			checkDeployment(t, r)
			checkRouting(t, r)
		})
	}
}

// checkDeployment: probes, drain, resources, the pre-pull from the store,
// and every reference to a config map, secret or key resolving.
func checkDeployment(t *testing.T, r *rendered) {
	d := r.deployments[0]
	spec := d.Spec.Template.Spec
	if d.Spec.Selector == nil || len(d.Spec.Selector.MatchLabels) == 0 {
		t.Fatal("deployment without a selector")
	}
	for k, v := range d.Spec.Selector.MatchLabels {
		if d.Spec.Template.Labels[k] != v {
			t.Errorf("pod template lacks selector label %s=%s", k, v)
		}
	}
	if len(spec.Containers) != 1 {
		t.Fatalf("%d containers", len(spec.Containers))
	}
	c := spec.Containers[0]
	if c.Image == "" || c.Image == "paw" {
		t.Errorf("image %q: the kustomization's images entry did not apply", c.Image)
	}
	if len(c.Args) == 0 || c.Args[0] != "serve" {
		t.Errorf("args %v: want paw serve", c.Args)
	}
	for _, flag := range []string{"--addr", "--model", "--config", "--api-keys", "--max-loaded", "--drain"} {
		if argValue(c, flag) == "" {
			t.Errorf("args %v lack %s", c.Args, flag)
		}
	}
	probe := func(name string, p *corev1.Probe, path string) {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != path || p.HTTPGet.Port.String() != "http" {
			t.Errorf("%s probe %+v: want GET %s on port http", name, p, path)
		}
	}
	probe("readiness", c.ReadinessProbe, "/ready")
	probe("liveness", c.LivenessProbe, "/health")
	probe("startup", c.StartupProbe, "/health")
	if !hasPort(c, "http", 8100) || !hasArg(c, "--addr=0.0.0.0:8100") {
		t.Errorf("container port or --addr is not 8100: %v %v", c.Ports, c.Args)
	}
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil {
		t.Error("no preStop pause before SIGTERM")
	}
	drain := argValue(c, "--drain")
	if spec.TerminationGracePeriodSeconds == nil || drain == "" {
		t.Fatal("no termination grace period or --drain")
	} else if grace, pre := *spec.TerminationGracePeriodSeconds, c.Lifecycle.PreStop.Sleep.Seconds; grace < pre+seconds(t, drain) {
		t.Errorf("grace %d s < preStop %d s + --drain %s: calls in flight would be killed", grace, pre, drain)
	}
	req, lim := c.Resources.Requests, c.Resources.Limits
	if req.Cpu().IsZero() || req.Memory().IsZero() || lim.Memory().Cmp(*req.Memory()) < 0 {
		t.Errorf("resources %+v: want cpu and memory requests, memory limit >= request", c.Resources)
	}
	if len(spec.InitContainers) != 1 || len(spec.InitContainers[0].Args) < 2 || spec.InitContainers[0].Args[0] != "pull" {
		t.Errorf("no init container pre-pulling the base model: %+v", spec.InitContainers)
	}
	cm, secrets := r.configMaps[0], map[string]*corev1.Secret{}
	for _, s := range r.secrets {
		secrets[s.Name] = s
	}
	for _, ct := range append(spec.InitContainers, c) {
		for _, e := range ct.EnvFrom {
			if e.ConfigMapRef != nil && e.ConfigMapRef.Name != cm.Name {
				t.Errorf("%s: envFrom config map %s, rendered %s", ct.Name, e.ConfigMapRef.Name, cm.Name)
			}
			if e.SecretRef != nil && secrets[e.SecretRef.Name] == nil {
				t.Errorf("%s: envFrom missing secret %s", ct.Name, e.SecretRef.Name)
			}
		}
		if !mountsCache(ct) {
			t.Errorf("%s does not mount the cache at /var/cache/paw", ct.Name)
		}
	}
	for _, k := range []string{"PAW_STORE", "PAW_RUNTIME", "routes.yaml"} {
		if cm.Data[k] == "" {
			t.Errorf("config map lacks %s", k)
		}
	}
	for _, v := range spec.Volumes {
		if v.ConfigMap != nil && v.ConfigMap.Name != cm.Name {
			t.Errorf("volume %s: config map %s, rendered %s", v.Name, v.ConfigMap.Name, cm.Name)
		}
		if v.Secret != nil && secrets[v.Secret.SecretName] == nil {
			t.Errorf("volume %s: missing secret %s", v.Name, v.Secret.SecretName)
		}
	}
	if !strings.HasPrefix(secrets["paw-credentials"].StringData["PAW_REGISTRY"], "postgres://") {
		t.Error("PAW_REGISTRY is not a postgres:// DSN")
	}
}

// checkRouting: the service, PDB and HPA select or target the deployment,
// the HPA scales on CPU and queue depth, the ingress hashes the program.
func checkRouting(t *testing.T, r *rendered) {
	d := r.deployments[0]
	labels := d.Spec.Template.Labels
	sel := func(what string, m map[string]string) {
		if len(m) == 0 {
			t.Errorf("%s selects nothing", what)
		}
		for k, v := range m {
			if labels[k] != v {
				t.Errorf("%s selects %s=%s, which the pods lack", what, k, v)
			}
		}
	}
	sel("service", r.services[0].Spec.Selector)
	if r.pdbs[0].Spec.Selector == nil || (r.pdbs[0].Spec.MaxUnavailable == nil && r.pdbs[0].Spec.MinAvailable == nil) {
		t.Fatal("PDB without selector or budget")
	}
	sel("PDB", r.pdbs[0].Spec.Selector.MatchLabels)
	h := r.hpas[0]
	if h.Spec.ScaleTargetRef.Kind != "Deployment" || h.Spec.ScaleTargetRef.Name != d.Name {
		t.Errorf("HPA targets %+v, not deployment %s", h.Spec.ScaleTargetRef, d.Name)
	}
	var cpu, queue bool
	for _, m := range h.Spec.Metrics {
		cpu = cpu || (m.Resource != nil && m.Resource.Name == corev1.ResourceCPU)
		queue = queue || (m.Pods != nil && m.Pods.Metric.Name == "paw_queue_depth")
	}
	if !cpu || !queue || h.Spec.MinReplicas == nil || *h.Spec.MinReplicas < 2 {
		t.Errorf("HPA metrics %+v: want CPU and paw_queue_depth, at least 2 replicas", h.Spec.Metrics)
	}
	ing := r.ingresses[0]
	if ing.Annotations["nginx.ingress.kubernetes.io/upstream-hash-by"] != "$http_x_paw_program" {
		t.Error("the ingress does not hash on X-Paw-Program")
	}
	b := ing.Spec.Rules[0].HTTP.Paths[0].Backend.Service
	if b == nil || b.Name != r.services[0].Name || b.Port.Name != r.services[0].Spec.Ports[0].Name {
		t.Errorf("ingress backend %+v is not the service", b)
	}
}

func hasPort(c corev1.Container, name string, port int32) bool {
	for _, p := range c.Ports {
		if p.Name == name && p.ContainerPort == port {
			return true
		}
	}
	return false
}

func hasArg(c corev1.Container, arg string) bool {
	for _, a := range c.Args {
		if a == arg {
			return true
		}
	}
	return false
}

func argValue(c corev1.Container, flag string) string {
	for _, a := range c.Args {
		if v, ok := strings.CutPrefix(a, flag+"="); ok {
			return v
		}
	}
	return ""
}

func seconds(t *testing.T, d string) int64 {
	var n int64
	if _, err := fmt.Sscanf(d, "%ds", &n); err != nil {
		t.Fatalf("duration %q: want N s", d)
	}
	return n
}

func mountsCache(c corev1.Container) bool {
	for _, m := range c.VolumeMounts {
		if m.MountPath == "/var/cache/paw" {
			return true
		}
	}
	return false
}
