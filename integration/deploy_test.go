package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// The deployment examples under deploy/ are checked here without a
// cluster and without the network: the Compose file and its bridge config
// by their structure (TestComposeFile) and by running them
// (TestComposeUp, with Docker); the Kubernetes manifests by decoding each
// one strictly into its Kubernetes API type (k8s.io/api: an unknown or
// misspelt field, or a value of the wrong type, fails) and by the
// references between them (TestKubernetesManifests), and, where kubectl
// is installed, by rendering them with its built-in kustomize. No schema
// validator runs: kubeconform and the like fetch their JSON schemas from
// the network, which these machines do not reach; the typed decode covers
// field names and types, the checks below the required values.

// natsRelease is the Helm release name deploy/kubernetes expects for the
// official NATS chart. The chart names its client Service after the
// release (https://github.com/nats-io/k8s/blob/main/helm/charts/nats/test/config_test.go
// renders release "nats" with routes nats-0.nats-headless:6222).
const natsRelease = "nats"

// deployDir is deploy/ of the repository.
func deployDir(t *testing.T) string {
	t.Helper()
	return filepath.Join(mustRepoRoot(t), "deploy")
}

// bridgeFile is the part of a bridge config the deployment checks read.
type bridgeFile struct {
	NATS struct {
		URL          string `yaml:"url"`
		User         string `yaml:"user"`
		PasswordFile string `yaml:"password_file"`
		CredsFile    string `yaml:"creds_file"`
	} `yaml:"nats"`
	HTTP struct {
		Listen        string `yaml:"listen"`
		ShutdownGrace string `yaml:"shutdown_grace"`
	} `yaml:"http"`
	Admin struct {
		Listen string `yaml:"listen"`
	} `yaml:"admin"`
	Queue struct {
		Stream struct {
			Replicas int `yaml:"replicas"`
		} `yaml:"stream"`
	} `yaml:"queue"`
	HSS struct {
		SharedLimit bool `yaml:"shared_limit"`
	} `yaml:"hss"`
	Receivers []struct {
		Name string `yaml:"name"`
		Auth struct {
			SecretFiles []string `yaml:"secret_files"`
		} `yaml:"auth"`
	} `yaml:"receivers"`
}

func readBridgeFile(path string) (bridgeFile, map[string]any, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return bridgeFile{}, nil, err
	}
	return parseBridgeFile(data, path)
}

// parseBridgeFile parses a bridge config read from path (or a ConfigMap).
func parseBridgeFile(data []byte, path string) (bridgeFile, map[string]any, error) {
	var b bridgeFile
	if err := yaml.Unmarshal(data, &b); err != nil {
		return b, nil, fmt.Errorf("%s: %w", path, err)
	}
	var raw map[string]any
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return b, nil, fmt.Errorf("%s: %w", path, err)
	}
	return b, raw, nil
}

// natsHosts returns the host:port of each URL of a nats.url list.
func natsHosts(list string) ([]string, error) {
	var hosts []string
	for _, s := range strings.Split(list, ",") {
		u, err := url.Parse(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("nats.url %q: %w", s, err)
		}
		if u.Scheme != "nats" && u.Scheme != "tls" {
			return nil, fmt.Errorf("nats.url %q: scheme %q", s, u.Scheme)
		}
		hosts = append(hosts, u.Host)
	}
	return hosts, nil
}

// secretPaths lists every file a bridge config and its environment read
// secrets from.
func secretPaths(b bridgeFile, env map[string]string) []string {
	var paths []string
	for _, r := range b.Receivers {
		paths = append(paths, r.Auth.SecretFiles...)
	}
	for _, f := range []string{b.NATS.PasswordFile, b.NATS.CredsFile} {
		if f != "" {
			paths = append(paths, f)
		}
	}
	for k, v := range env {
		if strings.HasSuffix(k, "_FILE") {
			paths = append(paths, v)
		}
	}
	slices.Sort(paths)
	return paths
}

// composeFile is the part of deploy/compose.yaml the checks read.
type composeFile struct {
	Services map[string]struct {
		Image       string            `yaml:"image"`
		Command     []string          `yaml:"command"`
		Environment map[string]string `yaml:"environment"`
		Volumes     []string          `yaml:"volumes"`
		Secrets     []string          `yaml:"secrets"`
		Ports       []string          `yaml:"ports"`
		ReadOnly    bool              `yaml:"read_only"`
		StopGrace   string            `yaml:"stop_grace_period"`
	} `yaml:"services"`
	Secrets map[string]struct {
		File string `yaml:"file"`
	} `yaml:"secrets"`
	Volumes map[string]any `yaml:"volumes"`
}

// argValue returns the value of --name=value in args.
func argValue(args []string, name string) (string, bool) {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v, true
		}
	}
	return "", false
}

// TestComposeFile checks deploy/compose.yaml and deploy/bridge.yaml
// against each other: every NATS server routes to every other, the
// bridges name every server and keep the job stream on three, and every
// secret file the bridge reads is mounted.
func TestComposeFile(t *testing.T) {
	t.Parallel()
	dir := deployDir(t)
	data, err := os.ReadFile(filepath.Join(dir, "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cf composeFile
	if err := yaml.Unmarshal(data, &cf); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	bridge, _, err := readBridgeFile(filepath.Join(dir, "bridge.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var natsServices, bridgeServices []string
	for name, s := range cf.Services {
		switch {
		case slices.Contains(s.Command, "serve"):
			bridgeServices = append(bridgeServices, name)
		case slices.Contains(s.Command, "--jetstream"):
			natsServices = append(natsServices, name)
		}
	}
	slices.Sort(natsServices)
	slices.Sort(bridgeServices)

	checks := []struct {
		name  string
		check func() error
	}{
		{
			name: "three NATS servers and two bridges",
			check: func() error {
				if len(natsServices) != 3 || len(bridgeServices) != 2 || len(cf.Services) != 5 {
					return fmt.Errorf("NATS %v, bridges %v, services %d", natsServices, bridgeServices, len(cf.Services))
				}
				return nil
			},
		},
		{
			name: "every NATS server is named after its service, in one cluster, routing to every server, with JetStream on a volume",
			check: func() error {
				var routes []string
				for _, n := range natsServices {
					routes = append(routes, "nats://"+n+":6222")
				}
				cluster := ""
				for _, n := range natsServices {
					s := cf.Services[n]
					if v, _ := argValue(s.Command, "--server_name"); v != n {
						return fmt.Errorf("%s: --server_name=%q", n, v)
					}
					c, _ := argValue(s.Command, "--cluster_name")
					if c == "" || (cluster != "" && c != cluster) {
						return fmt.Errorf("%s: --cluster_name=%q (others: %q)", n, c, cluster)
					}
					cluster = c
					got, _ := argValue(s.Command, "--routes")
					gotRoutes := strings.Split(got, ",")
					slices.Sort(gotRoutes)
					if !slices.Equal(gotRoutes, routes) {
						return fmt.Errorf("%s: --routes=%s, want %s", n, got, strings.Join(routes, ","))
					}
					store, _ := argValue(s.Command, "--store_dir")
					if store == "" || !slices.ContainsFunc(s.Volumes, func(v string) bool {
						src, dst, _ := strings.Cut(v, ":")
						_, named := cf.Volumes[src]
						return named && dst == store
					}) {
						return fmt.Errorf("%s: store %q is not on a named volume (%v)", n, store, s.Volumes)
					}
				}
				return nil
			},
		},
		{
			name: "the bridges name every NATS server and keep the job stream on three of them",
			check: func() error {
				hosts, err := natsHosts(bridge.NATS.URL)
				if err != nil {
					return err
				}
				var want []string
				for _, n := range natsServices {
					want = append(want, n+":4222")
				}
				slices.Sort(hosts)
				if !slices.Equal(hosts, want) {
					return fmt.Errorf("nats.url %s, want every server %v", bridge.NATS.URL, want)
				}
				if bridge.Queue.Stream.Replicas != len(natsServices) {
					return fmt.Errorf("queue.stream.replicas %d, want %d", bridge.Queue.Stream.Replicas, len(natsServices))
				}
				if !bridge.HSS.SharedLimit {
					return errors.New("hss.shared_limit is off: two replicas would each make the deployment's calls")
				}
				return nil
			},
		},
		{
			name: "both bridges run the mounted bridge.yaml, read-only, with a stop grace above the shutdown grace",
			check: func() error {
				for _, n := range bridgeServices {
					s := cf.Services[n]
					i := slices.Index(s.Command, "--config")
					if i < 0 || i+1 >= len(s.Command) {
						return fmt.Errorf("%s: no --config in %v", n, s.Command)
					}
					if !slices.Contains(s.Volumes, "./bridge.yaml:"+s.Command[i+1]+":ro") {
						return fmt.Errorf("%s: %s is not ./bridge.yaml mounted read-only (%v)", n, s.Command[i+1], s.Volumes)
					}
					if !s.ReadOnly {
						return fmt.Errorf("%s: root file system is writable", n)
					}
					stop, err := time.ParseDuration(s.StopGrace)
					if err != nil {
						return fmt.Errorf("%s: stop_grace_period: %w", n, err)
					}
					grace, err := time.ParseDuration(bridge.HTTP.ShutdownGrace)
					if err != nil {
						return fmt.Errorf("http.shutdown_grace: %w", err)
					}
					if stop <= grace {
						return fmt.Errorf("%s: stop_grace_period %s <= http.shutdown_grace %s: a busy bridge is killed", n, stop, grace)
					}
				}
				return nil
			},
		},
		{
			name: "each bridge publishes its webhook listener, and its admin listener on the host's loopback only",
			check: func() error {
				_, httpPort, err := splitListen(bridge.HTTP.Listen)
				if err != nil {
					return err
				}
				_, adminPort, err := splitListen(bridge.Admin.Listen)
				if err != nil {
					return fmt.Errorf("admin.listen: %w", err)
				}
				for _, n := range bridgeServices {
					published := map[int32]string{} // container port → host address as written
					for _, p := range cf.Services[n].Ports {
						host, ctr, ok := cutContainerPort(p)
						if !ok {
							return fmt.Errorf("%s: port %q is not host_ip:host_port:container_port", n, p)
						}
						published[ctr] = host
					}
					if _, ok := published[httpPort]; !ok || len(published) != 2 {
						return fmt.Errorf("%s publishes %v, want the webhook port %d and the admin port %d", n, cf.Services[n].Ports, httpPort, adminPort)
					}
					if host, ok := published[adminPort]; !ok || !strings.HasPrefix(host, "127.0.0.1:") {
						return fmt.Errorf("%s publishes the admin port %d on %q, want 127.0.0.1 and nothing else", n, adminPort, host)
					}
				}
				return nil
			},
		},
		{
			name: "every secret file the bridges read is a mounted Compose secret",
			check: func() error {
				for _, n := range bridgeServices {
					s := cf.Services[n]
					for _, p := range secretPaths(bridge, s.Environment) {
						name, ok := strings.CutPrefix(p, "/run/secrets/")
						if !ok || !slices.Contains(s.Secrets, name) {
							return fmt.Errorf("%s reads %s, which is not one of its secrets %v", n, p, s.Secrets)
						}
						if _, ok := cf.Secrets[name]; !ok {
							return fmt.Errorf("secret %s is not defined", name)
						}
					}
				}
				return nil
			},
		},
	}
	for _, c := range checks {
		if err := c.check(); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}

// kustomization is the part of kustomization.yaml the checks read.
type kustomization struct {
	APIVersion         string   `yaml:"apiVersion"`
	Kind               string   `yaml:"kind"`
	Namespace          string   `yaml:"namespace"`
	Resources          []string `yaml:"resources"`
	ConfigMapGenerator []struct {
		Name  string   `yaml:"name"`
		Files []string `yaml:"files"`
	} `yaml:"configMapGenerator"`
	Images []kustomizeImage `yaml:"images"`
}

type kustomizeImage struct {
	Name    string `yaml:"name"`
	NewName string `yaml:"newName"`
	NewTag  string `yaml:"newTag"`
}

// manifests are the Kubernetes objects of deploy/kubernetes, each decoded
// strictly into its API type.
type manifests struct {
	deployments     []*appsv1.Deployment
	services        []*corev1.Service
	pdbs            []*policyv1.PodDisruptionBudget
	configMaps      []*corev1.ConfigMap
	secrets         []*corev1.Secret
	networkPolicies []*networkingv1.NetworkPolicy
}

// decode adds every document of a YAML stream to m. A kind this
// deployment does not use, an unknown field, or a wrong type fails.
func (m *manifests) decode(data []byte, source string) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for i := 0; ; i++ {
		var doc map[string]any
		if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return fmt.Errorf("%s document %d: %w", source, i, err)
		}
		if doc == nil {
			continue
		}
		js, err := json.Marshal(doc)
		if err != nil {
			return fmt.Errorf("%s document %d: %w", source, i, err)
		}
		kind := fmt.Sprint(doc["apiVersion"], " ", doc["kind"])
		var obj any
		switch kind {
		case "apps/v1 Deployment":
			d := &appsv1.Deployment{}
			m.deployments, obj = append(m.deployments, d), d
		case "v1 Service":
			s := &corev1.Service{}
			m.services, obj = append(m.services, s), s
		case "policy/v1 PodDisruptionBudget":
			p := &policyv1.PodDisruptionBudget{}
			m.pdbs, obj = append(m.pdbs, p), p
		case "v1 ConfigMap":
			c := &corev1.ConfigMap{}
			m.configMaps, obj = append(m.configMaps, c), c
		case "v1 Secret":
			s := &corev1.Secret{}
			m.secrets, obj = append(m.secrets, s), s
		case "networking.k8s.io/v1 NetworkPolicy":
			n := &networkingv1.NetworkPolicy{}
			m.networkPolicies, obj = append(m.networkPolicies, n), n
		default:
			return fmt.Errorf("%s document %d: unexpected kind %q", source, i, kind)
		}
		jd := json.NewDecoder(bytes.NewReader(js))
		jd.DisallowUnknownFields()
		if err := jd.Decode(obj); err != nil {
			return fmt.Errorf("%s document %d (%s): %w", source, i, kind, err)
		}
	}
}

// loadKustomization reads the kustomization and its resources, and makes
// the generated ConfigMaps as kustomize does (without the name hash).
func loadKustomization(dir string) (kustomization, *manifests, error) {
	var k kustomization
	data, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		return k, nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&k); err != nil {
		return k, nil, fmt.Errorf("kustomization.yaml: %w", err)
	}
	m := &manifests{}
	for _, r := range k.Resources {
		data, err := os.ReadFile(filepath.Join(dir, r))
		if err != nil {
			return k, nil, err
		}
		if err := m.decode(data, r); err != nil {
			return k, nil, err
		}
	}
	for _, g := range k.ConfigMapGenerator {
		cm := &corev1.ConfigMap{Data: map[string]string{}}
		cm.Name = g.Name
		for _, f := range g.Files {
			data, err := os.ReadFile(filepath.Join(dir, f))
			if err != nil {
				return k, nil, err
			}
			cm.Data[filepath.Base(f)] = string(data)
		}
		m.configMaps = append(m.configMaps, cm)
	}
	return k, m, nil
}

// TestKubernetesManifests checks deploy/kubernetes offline (the files are
// rendered from the Helm chart deploy/helm/scan-bridge; deploy/helm/gen's
// test keeps them equal to a fresh render): each manifest decodes strictly
// into its API type; the Deployment runs two hardened replicas whose
// probes, Services, PodDisruptionBudget, NetworkPolicy, ConfigMap and
// Secrets all refer to what exists; the bridge config names the NATS
// chart's Service and matches the Compose one but for NATS, the admin
// listener and where secrets are mounted; the values for the official NATS
// chart make a three-server JetStream cluster whose only user is the
// bridge, with the password the bridge reads. Where kubectl is installed,
// kustomize renders the directory and the rendered objects pass the same
// decoding.
func TestKubernetesManifests(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(deployDir(t), "kubernetes")
	k, m, err := loadKustomization(dir)
	if err != nil {
		t.Fatal(err)
	}
	example := &manifests{}
	data, err := os.ReadFile(filepath.Join(dir, "secret.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := example.decode(data, "secret.example.yaml"); err != nil {
		t.Fatal(err)
	}
	if len(m.deployments) != 1 || len(m.services) != 2 || len(m.pdbs) != 1 || len(m.configMaps) != 1 ||
		len(m.networkPolicies) != 1 || len(example.secrets) != 2 {
		t.Fatalf("want one Deployment, two Services (webhooks, admin), one PodDisruptionBudget, ConfigMap and NetworkPolicy, "+
			"and two example Secrets; got %d, %d, %d, %d, %d, %d",
			len(m.deployments), len(m.services), len(m.pdbs), len(m.configMaps), len(m.networkPolicies), len(example.secrets))
	}
	dep, pdb, cm, np := m.deployments[0], m.pdbs[0], m.configMaps[0], m.networkPolicies[0]
	secrets := map[string][]string{} // example Secret name → its keys
	for _, s := range example.secrets {
		secrets[s.Name] = keys(s.StringData)
	}
	pod := dep.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("the pod has %d containers, want 1", len(pod.Containers))
	}
	ctr := pod.Containers[0]
	bridgeYAML, ok := cm.Data["bridge.yaml"]
	if !ok {
		t.Fatalf("ConfigMap %s has no bridge.yaml (keys: %v)", cm.Name, keys(cm.Data))
	}
	bridge, bridgeRaw, err := parseBridgeFile([]byte(bridgeYAML), "ConfigMap "+cm.Name+" bridge.yaml")
	if err != nil {
		t.Fatal(err)
	}
	_, composeRaw, err := readBridgeFile(filepath.Join(deployDir(t), "bridge.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, e := range ctr.Env {
		env[e.Name] = e.Value
	}
	podLabels := labels.Set(dep.Spec.Template.Labels)
	_, httpPort, httpErr := splitListen(bridge.HTTP.Listen)
	_, adminPort, adminErr := splitListen(bridge.Admin.Listen)
	// The Services by the port they expose.
	var webhookSvc, adminSvc *corev1.Service
	for _, s := range m.services {
		for _, p := range s.Spec.Ports {
			switch got, _ := containerPort(ctr, p.TargetPort); got {
			case httpPort:
				webhookSvc = s
			case adminPort:
				adminSvc = s
			}
		}
	}

	checks := []struct {
		name  string
		check func() error
	}{
		{
			name: "the Deployment runs two replicas and selects its own pods",
			check: func() error {
				if dep.Spec.Replicas == nil || *dep.Spec.Replicas != 2 {
					return fmt.Errorf("replicas %s, want 2", deref(dep.Spec.Replicas))
				}
				sel := dep.Spec.Selector
				if sel == nil || !labels.SelectorFromSet(sel.MatchLabels).Matches(podLabels) || len(sel.MatchExpressions) > 0 {
					return fmt.Errorf("selector %v does not select the template's labels %v", sel, podLabels)
				}
				return nil
			},
		},
		{
			name: "the Services, the PodDisruptionBudget and the NetworkPolicy select the Deployment's pods",
			check: func() error {
				for _, svc := range m.services {
					if len(svc.Spec.Selector) == 0 || !labels.SelectorFromSet(svc.Spec.Selector).Matches(podLabels) {
						return fmt.Errorf("Service %s selector %v, pod labels %v", svc.Name, svc.Spec.Selector, podLabels)
					}
				}
				if pdb.Spec.Selector == nil || !labels.SelectorFromSet(pdb.Spec.Selector.MatchLabels).Matches(podLabels) {
					return fmt.Errorf("PodDisruptionBudget selector %v, pod labels %v", pdb.Spec.Selector, podLabels)
				}
				if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() < 1 || pdb.Spec.MinAvailable.IntValue() >= 2 {
					return fmt.Errorf("PodDisruptionBudget minAvailable %v, want 1 of 2", pdb.Spec.MinAvailable)
				}
				if !labels.SelectorFromSet(np.Spec.PodSelector.MatchLabels).Matches(podLabels) || len(np.Spec.PodSelector.MatchLabels) == 0 {
					return fmt.Errorf("NetworkPolicy podSelector %v, pod labels %v", np.Spec.PodSelector, podLabels)
				}
				return nil
			},
		},
		{
			name: "one Service reaches the webhook listener, the other the admin listener, and the probes the webhook listener",
			check: func() error {
				if err := errors.Join(httpErr, adminErr); err != nil {
					return err
				}
				if webhookSvc == nil || adminSvc == nil || webhookSvc == adminSvc {
					return fmt.Errorf("want one Service for the webhook port %d and another for the admin port %d", httpPort, adminPort)
				}
				for _, svc := range []*corev1.Service{webhookSvc, adminSvc} {
					if len(svc.Spec.Ports) != 1 {
						return fmt.Errorf("Service %s has %d ports, want 1: the admin port must not be exposed with the webhooks", svc.Name, len(svc.Spec.Ports))
					}
				}
				for _, pr := range []struct {
					name  string
					probe *corev1.Probe
					path  string
				}{{"startup", ctr.StartupProbe, "/readyz"}, {"liveness", ctr.LivenessProbe, "/healthz"}, {"readiness", ctr.ReadinessProbe, "/readyz"}} {
					if pr.probe == nil || pr.probe.HTTPGet == nil {
						return fmt.Errorf("no %s HTTP probe", pr.name)
					}
					if pr.probe.HTTPGet.Path != pr.path {
						return fmt.Errorf("%s probe GET %s, want %s", pr.name, pr.probe.HTTPGet.Path, pr.path)
					}
					if got, err := containerPort(ctr, pr.probe.HTTPGet.Port); err != nil || got != httpPort {
						return fmt.Errorf("%s probe port %s is %d (%v), want %d", pr.name, pr.probe.HTTPGet.Port.String(), got, err, httpPort)
					}
				}
				if p := ctr.StartupProbe; time.Duration(p.PeriodSeconds*p.FailureThreshold)*time.Second < 2*time.Minute {
					return fmt.Errorf("startup probe allows %d × %d s, less than the 2 minutes a first cluster start can take", p.FailureThreshold, p.PeriodSeconds)
				}
				return nil
			},
		},
		{
			name: "the NetworkPolicy lets in webhooks and admin requests on their ports only, and out NATS, DNS and HTTPS only",
			check: func() error {
				if !slices.Equal(np.Spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}) {
					return fmt.Errorf("policyTypes %v, want Ingress and Egress", np.Spec.PolicyTypes)
				}
				var in []int32
				for _, r := range np.Spec.Ingress {
					if len(r.From) == 0 {
						return fmt.Errorf("an ingress rule admits everyone: %v", r)
					}
					for _, p := range r.Ports {
						if p.Port == nil {
							return errors.New("an ingress rule admits every port")
						}
						got, err := containerPort(ctr, *p.Port)
						if err != nil {
							return err
						}
						in = append(in, got)
					}
				}
				if slices.Sort(in); !slices.Equal(in, []int32{httpPort, adminPort}) {
					return fmt.Errorf("ingress ports %v, want the webhook and admin ports %d, %d", in, httpPort, adminPort)
				}
				hosts, err := natsHosts(bridge.NATS.URL)
				if err != nil {
					return err
				}
				_, natsPort, err := splitListen(hosts[0])
				if err != nil {
					return err
				}
				var out []string
				for _, r := range np.Spec.Egress {
					if len(r.To) == 0 {
						return fmt.Errorf("an egress rule reaches everyone: %v", r)
					}
					for _, p := range r.Ports {
						if p.Port == nil {
							return errors.New("an egress rule opens every port")
						}
						out = append(out, fmt.Sprintf("%s/%s", deref(p.Protocol), p.Port.String()))
					}
				}
				slices.Sort(out)
				want := []string{fmt.Sprintf("TCP/%d", natsPort), "TCP/443", "TCP/53", "UDP/53"}
				slices.Sort(want)
				if !slices.Equal(out, want) {
					return fmt.Errorf("egress ports %v, want %v (NATS, HTTPS, DNS)", out, want)
				}
				return nil
			},
		},
		{
			name: "the bridge runs as uid 65532 on a read-only root without privileges",
			check: func() error {
				sc, psc := ctr.SecurityContext, pod.SecurityContext
				if sc == nil || psc == nil {
					return errors.New("no security context")
				}
				switch {
				case psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot, psc.RunAsUser == nil || *psc.RunAsUser != 65532:
					return fmt.Errorf("pod runAsNonRoot %s, runAsUser %s", deref(psc.RunAsNonRoot), deref(psc.RunAsUser))
				case psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault:
					return fmt.Errorf("pod seccompProfile %v, want RuntimeDefault", psc.SeccompProfile)
				case sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot, sc.RunAsUser == nil || *sc.RunAsUser != 65532:
					return fmt.Errorf("container runAsNonRoot %s, runAsUser %s", deref(sc.RunAsNonRoot), deref(sc.RunAsUser))
				case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
					return errors.New("root file system is writable")
				case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
					return errors.New("privilege escalation allowed")
				case sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL"):
					return fmt.Errorf("capabilities %v do not drop ALL", sc.Capabilities)
				case pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken:
					return errors.New("the service account token is mounted; the bridge does not call the Kubernetes API")
				}
				return nil
			},
		},
		{
			name: "GOMEMLIMIT is below the memory limit",
			check: func() error {
				limit, ok := ctr.Resources.Limits[corev1.ResourceMemory]
				if !ok {
					return errors.New("no memory limit")
				}
				var soft int64
				if _, err := fmt.Sscan(env["GOMEMLIMIT"], &soft); err != nil {
					return fmt.Errorf("GOMEMLIMIT %q: %w", env["GOMEMLIMIT"], err)
				}
				if soft <= 0 || soft >= limit.Value() {
					return fmt.Errorf("GOMEMLIMIT %d, memory limit %d: want a soft limit below the hard one", soft, limit.Value())
				}
				return nil
			},
		},
		{
			name: "the bridge keeps no local data: its store is the NATS cluster",
			check: func() error {
				if bridge.NATS.URL == "" {
					return errors.New("nats.url is empty: the bridge would embed NATS on a read-only root")
				}
				for _, vm := range ctr.VolumeMounts {
					if !vm.ReadOnly {
						return fmt.Errorf("volume %s at %s is writable", vm.Name, vm.MountPath)
					}
				}
				return nil
			},
		},
		{
			name: "the container runs serve with the ConfigMap's bridge.yaml, and a changed config rolls the pods",
			check: func() error {
				i := slices.Index(ctr.Args, "--config")
				if len(ctr.Args) == 0 || ctr.Args[0] != "serve" || i < 0 || i+1 >= len(ctr.Args) {
					return fmt.Errorf("args %v, want serve --config FILE", ctr.Args)
				}
				vol, key, err := mountedFile(pod, ctr, ctr.Args[i+1])
				if err != nil {
					return err
				}
				if vol.ConfigMap == nil || vol.ConfigMap.Name != cm.Name {
					return fmt.Errorf("%s is in volume %s, not ConfigMap %s", ctr.Args[i+1], vol.Name, cm.Name)
				}
				if _, ok := cm.Data[key]; !ok {
					return fmt.Errorf("ConfigMap %s has no key %s (keys: %v)", cm.Name, key, keys(cm.Data))
				}
				if dep.Spec.Template.Annotations["checksum/config"] == "" {
					return errors.New("the pod template has no checksum/config annotation: a changed config would not roll the pods")
				}
				return nil
			},
		},
		{
			name: "every secret file and secret reference names a key of an example Secret",
			check: func() error {
				for _, p := range secretPaths(bridge, env) {
					vol, key, err := mountedFile(pod, ctr, p)
					if err != nil {
						return err
					}
					if vol.Secret == nil || secrets[vol.Secret.SecretName] == nil {
						return fmt.Errorf("%s is in volume %s, not one of the Secrets %v", p, vol.Name, keys(secrets))
					}
					if have := secrets[vol.Secret.SecretName]; !slices.Contains(have, key) {
						return fmt.Errorf("%s: Secret %s has no key %s (keys: %v)", p, vol.Secret.SecretName, key, have)
					}
					if m := vol.Secret.DefaultMode; m == nil || *m&0o007 != 0 {
						return fmt.Errorf("Secret volume mode %s lets others read the secrets (want 0440)", deref(m))
					}
				}
				for _, e := range ctr.Env {
					if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
						continue
					}
					ref := e.ValueFrom.SecretKeyRef
					if !slices.Contains(secrets[ref.Name], ref.Key) {
						return fmt.Errorf("env %s refers to %s/%s, not a key of the Secrets %v", e.Name, ref.Name, ref.Key, secrets)
					}
				}
				return nil
			},
		},
		{
			name: "SIGTERM leaves the bridge its shutdown grace",
			check: func() error {
				grace, err := time.ParseDuration(bridge.HTTP.ShutdownGrace)
				if err != nil {
					return fmt.Errorf("http.shutdown_grace: %w", err)
				}
				if p := pod.TerminationGracePeriodSeconds; p == nil || time.Duration(*p)*time.Second <= grace {
					return fmt.Errorf("terminationGracePeriodSeconds %s <= http.shutdown_grace %s", deref(p), grace)
				}
				return nil
			},
		},
		{
			name: "the bridge config names the NATS chart's client Service, keeps the job stream on three servers and shares the rate limit",
			check: func() error {
				hosts, err := natsHosts(bridge.NATS.URL)
				if err != nil {
					return err
				}
				if !slices.Equal(hosts, []string{natsRelease + ":4222"}) {
					return fmt.Errorf("nats.url %s, want the Service of release %q", bridge.NATS.URL, natsRelease)
				}
				if bridge.Queue.Stream.Replicas != 3 {
					return fmt.Errorf("queue.stream.replicas %d, want 3", bridge.Queue.Stream.Replicas)
				}
				if !bridge.HSS.SharedLimit {
					return errors.New("hss.shared_limit is off: two replicas would each make the deployment's calls")
				}
				return nil
			},
		},
		{
			name: "the bridge config is the Compose one but for NATS, the admin listener and where secrets are mounted",
			check: func() error {
				a, b := comparableConfig(bridgeRaw), comparableConfig(composeRaw)
				ja, _ := json.Marshal(a)
				jb, _ := json.Marshal(b)
				if !bytes.Equal(ja, jb) {
					return fmt.Errorf("the ConfigMap's bridge.yaml and bridge.yaml differ beyond those:\n %s\n %s", ja, jb)
				}
				return nil
			},
		},
		{
			name: "the Deployment's image is the one the kustomization sets",
			check: func() error {
				name, _, _ := strings.Cut(ctr.Image, "@")
				if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
					name = name[:i]
				}
				if !slices.ContainsFunc(k.Images, func(i kustomizeImage) bool { return i.Name == name }) {
					return fmt.Errorf("image %q is not under the kustomization's images", ctr.Image)
				}
				return nil
			},
		},
		{
			name: "the values for the official NATS chart make a three-server JetStream cluster whose user bridge has the bridge's password",
			check: func() error {
				if bridge.NATS.User == "" || bridge.NATS.PasswordFile == "" {
					return fmt.Errorf("nats.user %q, nats.password_file %q: the bridge would connect anonymously", bridge.NATS.User, bridge.NATS.PasswordFile)
				}
				vol, key, err := mountedFile(pod, ctr, bridge.NATS.PasswordFile)
				if err != nil || vol.Secret == nil {
					return fmt.Errorf("nats.password_file %s is not a Secret's file (%v)", bridge.NATS.PasswordFile, err)
				}
				return checkNATSValues(filepath.Join(dir, "nats-values.yaml"), bridge.Queue.Stream.Replicas,
					bridge.NATS.User, corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: vol.Secret.SecretName}, Key: key})
			},
		},
	}
	for _, c := range checks {
		if err := c.check(); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
	}

	t.Run("kustomize renders the directory into the same objects", func(t *testing.T) {
		kubectl, err := exec.LookPath("kubectl")
		if err != nil {
			t.Skip("kubectl is not installed: the rendering is not checked (the manifests above are)")
		}
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		var stdout, stderr bytes.Buffer
		cmd := exec.CommandContext(ctx, kubectl, "kustomize", dir)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("kubectl kustomize: %v\n%s", err, stderr.String())
		}
		r := &manifests{}
		if err := r.decode(stdout.Bytes(), "kubectl kustomize"); err != nil {
			t.Fatal(err)
		}
		if len(r.deployments) != 1 || len(r.configMaps) != 1 || len(r.services) != 2 || len(r.pdbs) != 1 || len(r.networkPolicies) != 1 {
			t.Fatalf("rendered %d Deployments, %d ConfigMaps, %d Services, %d PodDisruptionBudgets, %d NetworkPolicies; want 1, 1, 2, 1, 1",
				len(r.deployments), len(r.configMaps), len(r.services), len(r.pdbs), len(r.networkPolicies))
		}
		rdep, rcm := r.deployments[0], r.configMaps[0]
		for _, obj := range []string{rdep.Namespace, rcm.Namespace, r.services[0].Namespace, r.services[1].Namespace, r.pdbs[0].Namespace, r.networkPolicies[0].Namespace} {
			if obj != k.Namespace {
				t.Errorf("rendered object in namespace %q, want %q", obj, k.Namespace)
			}
		}
		refs := 0
		for _, v := range rdep.Spec.Template.Spec.Volumes {
			if v.ConfigMap != nil {
				refs++
				if v.ConfigMap.Name != rcm.Name {
					t.Errorf("rendered Deployment mounts ConfigMap %s, the rendered one is %s", v.ConfigMap.Name, rcm.Name)
				}
			}
		}
		if refs != 1 {
			t.Errorf("rendered Deployment mounts %d ConfigMaps, want 1", refs)
		}
		if rcm.Data["bridge.yaml"] != cm.Data["bridge.yaml"] {
			t.Error("rendered ConfigMap's bridge.yaml differs from configmap.yaml's")
		}
		if img := rdep.Spec.Template.Spec.Containers[0].Image; !strings.Contains(img, ":") {
			t.Errorf("rendered image %q has no tag", img)
		}
	})
}

// deref prints an optional field of a Kubernetes object.
func deref[T any](p *T) string {
	if p == nil {
		return "unset"
	}
	return fmt.Sprint(*p)
}

// comparableConfig returns a copy of a parsed bridge config without what
// differs between Compose and Kubernetes by design: the NATS connection,
// the admin listener, the directory secret files are mounted in, and an
// empty routes list.
func comparableConfig(cfg map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range cfg {
		out[k] = v
	}
	delete(out, "nats")
	delete(out, "admin")
	if r, ok := out["routes"].([]any); ok && len(r) == 0 {
		delete(out, "routes")
	}
	if recvs, ok := cfg["receivers"].([]any); ok {
		var rs []any
		for _, r := range recvs {
			rm, ok := r.(map[string]any)
			if !ok {
				rs = append(rs, r)
				continue
			}
			rc := map[string]any{}
			for k, v := range rm {
				rc[k] = v
			}
			if auth, ok := rm["auth"].(map[string]any); ok {
				ac := map[string]any{}
				for k, v := range auth {
					ac[k] = v
				}
				if files, ok := auth["secret_files"].([]any); ok {
					var names []any
					for _, f := range files {
						names = append(names, filepath.Base(fmt.Sprint(f)))
					}
					ac["secret_files"] = names
				}
				rc["auth"] = ac
			}
			rs = append(rs, rc)
		}
		out["receivers"] = rs
	}
	return out
}

// splitListen splits http.listen (":8080", "0.0.0.0:8080").
func splitListen(listen string) (string, int32, error) {
	host, port, ok := strings.Cut(listen, ":")
	if !ok {
		return "", 0, fmt.Errorf("http.listen %q has no port", listen)
	}
	var p int32
	if _, err := fmt.Sscan(port, &p); err != nil {
		return "", 0, fmt.Errorf("http.listen %q: %w", listen, err)
	}
	return host, p, nil
}

// cutContainerPort splits a Compose port entry, "host_ip:host_port:
// container_port" with ${VAR:-default} allowed in the host part, into the
// host part as written and the container port.
func cutContainerPort(entry string) (host string, port int32, ok bool) {
	i := strings.LastIndex(entry, ":")
	if i < 0 {
		return "", 0, false
	}
	if _, err := fmt.Sscan(entry[i+1:], &port); err != nil {
		return "", 0, false
	}
	return entry[:i], port, strings.Contains(entry[:i], ":")
}

// containerPort resolves a port by number or by name.
func containerPort(c corev1.Container, p intstr.IntOrString) (int32, error) {
	if p.Type == intstr.Int {
		return p.IntVal, nil
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return cp.ContainerPort, nil
		}
	}
	return 0, fmt.Errorf("no container port named %q", p.StrVal)
}

// mountedFile finds the volume that holds path in the container and the
// key (of the Secret or ConfigMap) path is a copy of: the file name, or the
// key an item projects to that name.
func mountedFile(pod corev1.PodSpec, c corev1.Container, path string) (corev1.Volume, string, error) {
	for _, vm := range c.VolumeMounts {
		rel, ok := strings.CutPrefix(path, strings.TrimSuffix(vm.MountPath, "/")+"/")
		if !ok || strings.Contains(rel, "/") {
			continue
		}
		for _, v := range pod.Volumes {
			if v.Name != vm.Name {
				continue
			}
			var items []corev1.KeyToPath
			switch {
			case v.Secret != nil:
				items = v.Secret.Items
			case v.ConfigMap != nil:
				items = v.ConfigMap.Items
			}
			if len(items) == 0 {
				return v, rel, nil
			}
			for _, it := range items {
				if it.Path == rel {
					return v, it.Key, nil
				}
			}
			return corev1.Volume{}, "", fmt.Errorf("%s: volume %s projects no item to %s", path, v.Name, rel)
		}
		return corev1.Volume{}, "", fmt.Errorf("mount %s names no volume %s", vm.MountPath, vm.Name)
	}
	return corev1.Volume{}, "", fmt.Errorf("%s is on no volume mount", path)
}

// checkNATSValues checks the values for the official NATS chart 1.x,
// whose keys are documented in its values.yaml
// (https://github.com/nats-io/k8s/blob/main/helm/charts/nats/values.yaml):
// config.cluster.{enabled,replicas}, config.jetstream.{enabled,fileStore.
// {enabled,dir,pvc.{enabled,size}}}, config.merge (merged into nats.conf:
// the accounts), container.env (a map of variable name to value or
// valueFrom), podTemplate.topologySpreadConstraints as a map keyed by
// topology key and natsBox.enabled. The accounts must have user (the
// bridge's nats.user) in an account with JetStream, its password taken from
// password (the Secret key the bridge's nats.password_file is) through an
// environment variable, and no anonymous user.
func checkNATSValues(path string, streamReplicas int, user string, password corev1.SecretKeySelector) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	type natsUser struct {
		User     string `yaml:"user"`
		Password string `yaml:"password"`
	}
	var v struct {
		Config struct {
			Cluster struct {
				Enabled  bool `yaml:"enabled"`
				Replicas int  `yaml:"replicas"`
			} `yaml:"cluster"`
			JetStream struct {
				Enabled   bool `yaml:"enabled"`
				FileStore struct {
					Enabled *bool  `yaml:"enabled"`
					Dir     string `yaml:"dir"`
					PVC     struct {
						Enabled          *bool  `yaml:"enabled"`
						Size             string `yaml:"size"`
						StorageClassName string `yaml:"storageClassName"`
					} `yaml:"pvc"`
				} `yaml:"fileStore"`
			} `yaml:"jetstream"`
			Merge struct {
				Accounts map[string]struct {
					JetStream string     `yaml:"jetstream"`
					Users     []natsUser `yaml:"users"`
				} `yaml:"accounts"`
				NoAuthUser string `yaml:"no_auth_user"`
			} `yaml:"merge"`
		} `yaml:"config"`
		Container struct {
			Env map[string]struct {
				ValueFrom struct {
					SecretKeyRef *struct {
						Name string `yaml:"name"`
						Key  string `yaml:"key"`
					} `yaml:"secretKeyRef"`
				} `yaml:"valueFrom"`
			} `yaml:"env"`
		} `yaml:"container"`
		PodTemplate struct {
			TopologySpreadConstraints map[string]struct {
				MaxSkew           int    `yaml:"maxSkew"`
				WhenUnsatisfiable string `yaml:"whenUnsatisfiable"`
			} `yaml:"topologySpreadConstraints"`
		} `yaml:"podTemplate"`
		NatsBox struct {
			Enabled bool `yaml:"enabled"`
		} `yaml:"natsBox"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&v); err != nil {
		return fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	c, js := v.Config.Cluster, v.Config.JetStream
	switch {
	case !c.Enabled || c.Replicas < 3 || c.Replicas%2 == 0:
		return fmt.Errorf("config.cluster enabled %v replicas %d, want an odd number >= 3", c.Enabled, c.Replicas)
	case c.Replicas < streamReplicas:
		return fmt.Errorf("config.cluster.replicas %d < the job stream's %d replicas", c.Replicas, streamReplicas)
	case !js.Enabled:
		return errors.New("config.jetstream.enabled is false")
	case js.FileStore.Enabled != nil && !*js.FileStore.Enabled, js.FileStore.PVC.Enabled != nil && !*js.FileStore.PVC.Enabled:
		return errors.New("JetStream file store or its PVC is disabled: a restarted server would lose its streams")
	case v.Config.Merge.NoAuthUser != "":
		return fmt.Errorf("config.merge.no_auth_user %q lets clients in without credentials", v.Config.Merge.NoAuthUser)
	case len(v.Config.Merge.Accounts) == 0:
		return errors.New("config.merge.accounts is empty: every client would be anonymous")
	}
	size, err := resource.ParseQuantity(js.FileStore.PVC.Size)
	if err != nil {
		return fmt.Errorf("config.jetstream.fileStore.pvc.size: %w", err)
	}
	if size.Cmp(resource.MustParse("1Gi")) < 0 {
		return fmt.Errorf("config.jetstream.fileStore.pvc.size %s < 1Gi", size.String())
	}
	found := false
	for name, acct := range v.Config.Merge.Accounts {
		for _, u := range acct.Users {
			if u.User != user {
				continue
			}
			found = true
			if acct.JetStream != "enabled" {
				return fmt.Errorf("account %s of user %s: jetstream %q, want enabled", name, user, acct.JetStream)
			}
			variable, ok := strings.CutPrefix(u.Password, "<< $")
			variable, ok2 := strings.CutSuffix(variable, " >>")
			if !ok || !ok2 {
				return fmt.Errorf("user %s: password %q is not an environment variable (<< $NAME >>)", user, u.Password)
			}
			env, ok := v.Container.Env[variable]
			src := env.ValueFrom
			if !ok || src.SecretKeyRef == nil {
				return fmt.Errorf("user %s: container.env.%s does not come from a Secret", user, variable)
			}
			if src.SecretKeyRef.Name != password.Name || src.SecretKeyRef.Key != password.Key {
				return fmt.Errorf("user %s: the servers read the password from %s/%s, the bridge from %s/%s",
					user, src.SecretKeyRef.Name, src.SecretKeyRef.Key, password.Name, password.Key)
			}
		}
	}
	if !found {
		return fmt.Errorf("no account has the user %q the bridge connects as", user)
	}
	if v.NatsBox.Enabled {
		return errors.New("natsBox.enabled: nats-box has no credentials for the accounts")
	}
	tsc, ok := v.PodTemplate.TopologySpreadConstraints["kubernetes.io/hostname"]
	if !ok || tsc.MaxSkew != 1 || tsc.WhenUnsatisfiable != "DoNotSchedule" {
		return fmt.Errorf("podTemplate.topologySpreadConstraints %v: want one server per node", v.PodTemplate.TopologySpreadConstraints)
	}
	return nil
}
