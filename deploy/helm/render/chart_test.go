package render

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	sigsyaml "sigs.k8s.io/yaml"
)

// chartDir is the chart seen from this package's directory.
const chartDir = "../scan-bridge"

// The chart is rendered offline, as `helm template` does, with its default
// values and variants of them, and every object is decoded strictly into
// its Kubernetes API type (an unknown field or a wrong type fails; the
// Prometheus Operator's ServiceMonitor and PrometheusRule into local structs
// with the fields the chart uses). Then the references between the objects
// are checked: selectors pick the pods, ports and probes name declared
// container ports and the listeners the config sets, every Secret is one
// the values name (the chart creates none), every secret file the config
// reads is a mounted key, GOMEMLIMIT is 90 % of the limit, and the config
// is made of keys the bridge documents.

// serviceMonitor and prometheusRule are the parts of the Prometheus
// Operator's monitoring.coreos.com/v1 kinds the chart writes
// (https://prometheus-operator.dev/docs/api-reference/api/).
type serviceMonitor struct {
	metav1.TypeMeta `json:",inline"`
	Metadata        metav1.ObjectMeta `json:"metadata"`
	Spec            struct {
		JobLabel          string `json:"jobLabel"`
		NamespaceSelector struct {
			MatchNames []string `json:"matchNames"`
		} `json:"namespaceSelector"`
		Selector  metav1.LabelSelector `json:"selector"`
		Endpoints []struct {
			Port          string `json:"port"`
			Path          string `json:"path"`
			Interval      string `json:"interval"`
			ScrapeTimeout string `json:"scrapeTimeout"`
		} `json:"endpoints"`
	} `json:"spec"`
}

type prometheusRule struct {
	metav1.TypeMeta `json:",inline"`
	Metadata        metav1.ObjectMeta `json:"metadata"`
	Spec            struct {
		Groups []map[string]any `json:"groups"`
	} `json:"spec"`
}

// objects are one render, decoded.
type objects struct {
	deployments     []*appsv1.Deployment
	services        []*corev1.Service
	configMaps      []*corev1.ConfigMap
	pdbs            []*policyv1.PodDisruptionBudget
	networkPolicies []*networkingv1.NetworkPolicy
	serviceMonitors []*serviceMonitor
	rules           []*prometheusRule
}

// decode decodes every object strictly. YAML is read as Kubernetes reads
// it (sigs.k8s.io/yaml: YAML 1.1, so 0440 is octal).
func decode(objs []Object) (*objects, error) {
	o := &objects{}
	for _, obj := range objs {
		js, err := sigsyaml.YAMLToJSON([]byte(obj.YAML))
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", obj.Template, obj.Kind, err)
		}
		var into any
		switch obj.APIVersion + " " + obj.Kind {
		case "apps/v1 Deployment":
			v := &appsv1.Deployment{}
			o.deployments, into = append(o.deployments, v), v
		case "v1 Service":
			v := &corev1.Service{}
			o.services, into = append(o.services, v), v
		case "v1 ConfigMap":
			v := &corev1.ConfigMap{}
			o.configMaps, into = append(o.configMaps, v), v
		case "policy/v1 PodDisruptionBudget":
			v := &policyv1.PodDisruptionBudget{}
			o.pdbs, into = append(o.pdbs, v), v
		case "networking.k8s.io/v1 NetworkPolicy":
			v := &networkingv1.NetworkPolicy{}
			o.networkPolicies, into = append(o.networkPolicies, v), v
		case "monitoring.coreos.com/v1 ServiceMonitor":
			v := &serviceMonitor{}
			o.serviceMonitors, into = append(o.serviceMonitors, v), v
		case "monitoring.coreos.com/v1 PrometheusRule":
			v := &prometheusRule{}
			o.rules, into = append(o.rules, v), v
		default:
			return nil, fmt.Errorf("%s: unexpected kind %s %s", obj.Template, obj.APIVersion, obj.Kind)
		}
		dec := json.NewDecoder(bytes.NewReader(js))
		dec.DisallowUnknownFields()
		if err := dec.Decode(into); err != nil {
			return nil, fmt.Errorf("%s %s %s: %w", obj.Template, obj.Kind, obj.Name, err)
		}
	}
	return o, nil
}

// bridgeConfig mirrors the keys the chart writes into bridge.yaml, and
// those the test values set; decoded with unknown keys refused.
type bridgeConfig struct {
	HTTP struct {
		Listen        string `yaml:"listen"`
		ShutdownGrace string `yaml:"shutdown_grace"`
	} `yaml:"http"`
	Admin struct {
		Listen    string `yaml:"listen"`
		TokenFile string `yaml:"token_file"`
	} `yaml:"admin"`
	NATS struct {
		URL          string `yaml:"url"`
		User         string `yaml:"user"`
		PasswordFile string `yaml:"password_file"`
		CredsFile    string `yaml:"creds_file"`
	} `yaml:"nats"`
	Queue struct {
		Stream struct {
			Replicas int `yaml:"replicas"`
		} `yaml:"stream"`
	} `yaml:"queue"`
	HSS struct {
		Region         string  `yaml:"region"`
		CallsPerMinute float64 `yaml:"calls_per_minute"`
		Burst          int     `yaml:"burst"`
		SharedLimit    bool    `yaml:"shared_limit"`
		Auth           string  `yaml:"auth"`
		IAM            struct {
			DomainName   string `yaml:"domain_name"`
			UserName     string `yaml:"user_name"`
			PasswordFile string `yaml:"password_file"`
		} `yaml:"iam"`
	} `yaml:"hss"`
	Log struct {
		Level  string `yaml:"level"`
		Format string `yaml:"format"`
	} `yaml:"log"`
	Routes    []map[string]any `yaml:"routes"`
	Receivers []struct {
		Name   string `yaml:"name"`
		Format string `yaml:"format"`
		Auth   struct {
			Method      string   `yaml:"method"`
			Header      string   `yaml:"header"`
			Prefix      string   `yaml:"prefix"`
			SecretFiles []string `yaml:"secret_files"`
		} `yaml:"auth"`
	} `yaml:"receivers"`
}

// secretFiles are the files the config reads secrets from.
func (c bridgeConfig) secretFiles() []string {
	var files []string
	for _, r := range c.Receivers {
		files = append(files, r.Auth.SecretFiles...)
	}
	for _, f := range []string{c.Admin.TokenFile, c.NATS.PasswordFile, c.NATS.CredsFile, c.HSS.IAM.PasswordFile} {
		if f != "" {
			files = append(files, f)
		}
	}
	return files
}

// pendingKeys are config keys the chart sets that the README's complete
// example does not show; none today.
var pendingKeys []string

const existingNATS = `
natsClient:
  url: nats://nats.example:4222
`

func TestChart(t *testing.T) {
	cases := []struct {
		name   string
		values string
		// secrets are the Secrets the values name, all created before
		// the install: the chart must refer to no other.
		secrets []string
		// bundled adds a stand-in for the NATS chart to charts/, as
		// `helm dependency update` would fetch it.
		bundled bool
		check   func(*objects, bridgeConfig) error
	}{
		{
			name:    "the default values with an existing NATS",
			values:  existingNATS,
			secrets: []string{"scan-bridge-secrets", "scan-bridge-nats"},
			check: func(o *objects, c bridgeConfig) error {
				if n := [...]int{len(o.deployments), len(o.services), len(o.configMaps), len(o.pdbs), len(o.networkPolicies), len(o.serviceMonitors), len(o.rules)}; n != [...]int{1, 2, 1, 1, 1, 1, 1} {
					return fmt.Errorf("Deployments, Services, ConfigMaps, PodDisruptionBudgets, NetworkPolicies, ServiceMonitors, PrometheusRules: %v, want 1, 2, 1, 1, 1, 1, 1", n)
				}
				if c.NATS.URL != "nats://nats.example:4222" || c.NATS.User != "bridge" || c.NATS.PasswordFile != "/run/secrets/scan-bridge-nats/password" {
					return fmt.Errorf("nats %+v, want natsClient's URL, user bridge and the password file", c.NATS)
				}
				if r := *o.deployments[0].Spec.Replicas; r != 2 {
					return fmt.Errorf("%d replicas, want 2", r)
				}
				return nil
			},
		},
		{
			name:    "a scan SLO of 4 hours",
			values:  existingNATS + "prometheusRule: {oldestUnscannedImageSLOSeconds: 14400}\n",
			secrets: []string{"scan-bridge-secrets", "scan-bridge-nats"},
			check: func(o *objects, c bridgeConfig) error {
				if e := oldestUnscannedExpr(o.rules[0].Spec.Groups); e != "max(scanbridge_oldest_unscanned_image_age_seconds) > 14400" {
					return fmt.Errorf("ScanBridgeOldestUnscannedImage expr %q, want the SLO 14400", e)
				}
				return nil
			},
		},
		{
			name:    "the bundled NATS chart",
			values:  "nats:\n  enabled: true\n",
			secrets: []string{"scan-bridge-secrets", "scan-bridge-nats"},
			bundled: true,
			check: func(o *objects, c bridgeConfig) error {
				if c.NATS.URL != "nats://rel-nats:4222" {
					return fmt.Errorf("nats.url %s, want the bundled chart's Service rel-nats", c.NATS.URL)
				}
				to := o.networkPolicies[0].Spec.Egress[0].To
				if len(to) != 1 || to[0].PodSelector == nil || to[0].PodSelector.MatchLabels["app.kubernetes.io/instance"] != "rel" ||
					to[0].PodSelector.MatchLabels["app.kubernetes.io/component"] != "nats" {
					return fmt.Errorf("NATS egress to %v, want the bundled chart's pods", to)
				}
				return nil
			},
		},
		{
			name: "no Prometheus Operator objects, a Grafana dashboard, no NetworkPolicy, one replica",
			values: existingNATS + `
serviceMonitor: {enabled: false}
prometheusRule: {enabled: false}
grafanaDashboard: {enabled: true}
networkPolicy: {enabled: false}
replicaCount: 1
`,
			secrets: []string{"scan-bridge-secrets", "scan-bridge-nats"},
			check: func(o *objects, c bridgeConfig) error {
				if len(o.serviceMonitors)+len(o.rules)+len(o.networkPolicies)+len(o.pdbs) != 0 {
					return fmt.Errorf("%d ServiceMonitors, %d PrometheusRules, %d NetworkPolicies, %d PodDisruptionBudgets, want none",
						len(o.serviceMonitors), len(o.rules), len(o.networkPolicies), len(o.pdbs))
				}
				dashboard, err := os.ReadFile(filepath.Join(chartDir, "files", "dashboard.json"))
				if err != nil {
					return err
				}
				for _, cm := range o.configMaps {
					if d, ok := cm.Data["scan-bridge.json"]; ok {
						if cm.Labels["grafana_dashboard"] != "1" {
							return fmt.Errorf("dashboard ConfigMap labels %v, want grafana_dashboard", cm.Labels)
						}
						if strings.TrimSpace(d) != strings.TrimSpace(string(dashboard)) {
							return fmt.Errorf("dashboard ConfigMap differs from files/dashboard.json")
						}
						return nil
					}
				}
				return fmt.Errorf("no dashboard ConfigMap among %d", len(o.configMaps))
			},
		},
		{
			name: "NATS credentials, the admin API, IAM password auth and a bigger memory limit",
			values: `
natsClient:
  url: nats://nats.example:4222
  user: ""
  credsSecret: {name: nats-creds, key: bridge.creds}
admin:
  tokenSecret: {name: admin-tokens, key: tokens}
hss:
  credentials: {secretName: hss, accessKeyKey: "", secretKeyKey: "", projectIdKey: project}
config:
  hss:
    region: ap-southeast-1
    auth: password
    iam: {domain_name: acme, user_name: bridge}
secretFiles:
  - {name: hss-iam, key: password, setting: hss.iam.password_file}
receivers:
  - name: ghcr
    format: ghcr
    auth:
      method: hmac
      header: X-Hub-Signature-256
      prefix: sha256=
      secretRefs: [{name: ghcr-hook, key: secret}, {name: ghcr-hook, key: next}]
resources:
  limits: {memory: 1G}
`,
			secrets: []string{"hss", "nats-creds", "admin-tokens", "hss-iam", "ghcr-hook"},
			check: func(o *objects, c bridgeConfig) error {
				switch {
				case c.NATS.User != "" || c.NATS.PasswordFile != "" || c.NATS.CredsFile != "/run/secrets/nats-creds/bridge.creds":
					return fmt.Errorf("nats %+v, want only the credentials file", c.NATS)
				case c.Admin.TokenFile != "/run/secrets/admin-tokens/tokens":
					return fmt.Errorf("admin.token_file %q", c.Admin.TokenFile)
				case c.HSS.IAM.PasswordFile != "/run/secrets/hss-iam/password" || c.HSS.IAM.DomainName != "acme":
					return fmt.Errorf("hss.iam %+v", c.HSS.IAM)
				case len(c.Receivers) != 1 || !slices.Equal(c.Receivers[0].Auth.SecretFiles, []string{"/run/secrets/ghcr-hook/secret", "/run/secrets/ghcr-hook/next"}):
					return fmt.Errorf("receivers %+v", c.Receivers)
				}
				for _, e := range o.deployments[0].Spec.Template.Spec.Containers[0].Env {
					if strings.HasPrefix(e.Name, "HUAWEICLOUD_SDK_") && e.Name != "HUAWEICLOUD_SDK_PROJECT_ID" {
						return fmt.Errorf("env %s set without an AK/SK key", e.Name)
					}
				}
				return nil
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := chartDir
			if c.bundled {
				dir = chartWithNATSStandIn(t)
			}
			vals, err := ReadValues([]byte(c.values))
			if err != nil {
				t.Fatal(err)
			}
			objs, err := Chart(Options{ChartDir: dir, Release: "rel", Namespace: "ns", Values: vals})
			if err != nil {
				t.Fatal(err)
			}
			o, err := decode(objs)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := checkReferences(o, c.secrets)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.check(o, cfg); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestChartRefuses: values the chart must not render.
func TestChartRefuses(t *testing.T) {
	cases := []struct {
		name, values, want string
	}{
		{"no NATS to connect to", "", "natsClient.url"},
		{"the bundled NATS chart before helm dependency update", "nats: {enabled: true}", "helm dependency update"},
		{"a receiver's secret inline", existingNATS + "receivers: [{name: r, format: harbor, auth: {method: token, secrets: [s3cret]}}]", "receivers[r].auth.secrets"},
		{"the HSS secret key inline", existingNATS + "config: {hss: {region: x, secret_key: s3cret}}", "config.hss.secret_key"},
		{"a memory limit GOMEMLIMIT cannot be computed from", existingNATS + "resources: {limits: {memory: 1.5Gi}}", "resources.limits.memory"},
		{"no receiver", existingNATS + "receivers: []", "receivers"},
		{"a scan SLO of no time", existingNATS + "prometheusRule: {oldestUnscannedImageSLOSeconds: 0}", "prometheusRule.oldestUnscannedImageSLOSeconds"},
	}
	for _, c := range cases {
		vals, err := ReadValues([]byte(c.values))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		_, err = Chart(Options{ChartDir: chartDir, Release: "rel", Namespace: "ns", Values: vals})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one naming %q", c.name, err, c.want)
		}
	}
}

// TestConfigChangeRollsPods: the pod template's checksum is the config's,
// so a changed config (and only that) makes a new ReplicaSet.
func TestConfigChangeRollsPods(t *testing.T) {
	checksum := func(extra string) (string, string) {
		t.Helper()
		vals, err := ReadValues([]byte(existingNATS + extra))
		if err != nil {
			t.Fatal(err)
		}
		objs, err := Chart(Options{ChartDir: chartDir, Release: "rel", Namespace: "ns", Values: vals})
		if err != nil {
			t.Fatal(err)
		}
		o, err := decode(objs)
		if err != nil {
			t.Fatal(err)
		}
		return o.deployments[0].Spec.Template.Annotations["checksum/config"], o.configMaps[0].Data["bridge.yaml"]
	}
	base, config := checksum("")
	sum := sha256.Sum256([]byte(strings.TrimSuffix(config, "\n")))
	if base != hex.EncodeToString(sum[:]) {
		t.Errorf("checksum/config %s is not the SHA-256 of the ConfigMap's bridge.yaml", base)
	}
	if again, _ := checksum("replicaCount: 3\n"); again != base {
		t.Error("a change outside the config changed the checksum")
	}
	if changed, _ := checksum("config: {log: {level: debug}, hss: {region: cn-north-4}}\n"); changed == base {
		t.Error("a changed config kept the checksum: the pods would not roll")
	}
}

// chartWithNATSStandIn copies the chart to a temporary directory and puts
// a stand-in for the NATS chart (a Chart.yaml, no templates) into its
// charts/, where `helm dependency update` would put the real one.
func chartWithNATSStandIn(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "scan-bridge")
	if err := os.CopyFS(dir, os.DirFS(chartDir)); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "charts", "nats")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sub, "Chart.yaml"), []byte("apiVersion: v2\nname: nats\nversion: 1.3.0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// checkReferences checks what every render must satisfy and returns the
// bridge config.
func checkReferences(o *objects, secrets []string) (bridgeConfig, error) {
	var cfg bridgeConfig
	if len(o.deployments) != 1 {
		return cfg, fmt.Errorf("%d Deployments, want 1", len(o.deployments))
	}
	dep := o.deployments[0]
	pod := dep.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		return cfg, fmt.Errorf("%d containers, want 1", len(pod.Containers))
	}
	ctr := pod.Containers[0]
	podLabels := labels.Set(dep.Spec.Template.Labels)
	port := func(p intstr.IntOrString) (int32, error) {
		if p.Type == intstr.Int {
			return p.IntVal, nil
		}
		for _, cp := range ctr.Ports {
			if cp.Name == p.StrVal {
				return cp.ContainerPort, nil
			}
		}
		return 0, fmt.Errorf("no container port %q", p.StrVal)
	}

	// The config: mounted from a rendered ConfigMap, strict, documented.
	i := slices.Index(ctr.Args, "--config")
	if i < 0 || i+1 >= len(ctr.Args) {
		return cfg, fmt.Errorf("args %v have no --config", ctr.Args)
	}
	vol, key, err := mounted(pod, ctr, ctr.Args[i+1])
	if err != nil {
		return cfg, err
	}
	var cm *corev1.ConfigMap
	for _, c := range o.configMaps {
		if vol.ConfigMap != nil && c.Name == vol.ConfigMap.Name {
			cm = c
		}
	}
	if cm == nil {
		return cfg, fmt.Errorf("%s is not in a rendered ConfigMap (volume %s)", ctr.Args[i+1], vol.Name)
	}
	dec := yaml.NewDecoder(strings.NewReader(cm.Data[key]))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		return cfg, fmt.Errorf("bridge.yaml: %w\n%s", err, cm.Data[key])
	}
	if err := documentedKeys(cm.Data[key]); err != nil {
		return cfg, err
	}

	// Listeners, ports, probes, Services, ServiceMonitor.
	httpPort, err := listenPort(cfg.HTTP.Listen)
	if err != nil {
		return cfg, err
	}
	adminPort, err := listenPort(cfg.Admin.Listen)
	if err != nil {
		return cfg, err
	}
	if p, err := port(intstr.FromString("http")); err != nil || p != httpPort {
		return cfg, fmt.Errorf("container port http %d (%v), http.listen %s", p, err, cfg.HTTP.Listen)
	}
	if p, err := port(intstr.FromString("admin")); err != nil || p != adminPort {
		return cfg, fmt.Errorf("container port admin %d (%v), admin.listen %s", p, err, cfg.Admin.Listen)
	}
	for _, pr := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{{"startup", ctr.StartupProbe, "/readyz"}, {"readiness", ctr.ReadinessProbe, "/readyz"}, {"liveness", ctr.LivenessProbe, "/healthz"}} {
		if pr.probe == nil || pr.probe.HTTPGet == nil || pr.probe.HTTPGet.Path != pr.path {
			return cfg, fmt.Errorf("%s probe %v, want GET %s", pr.name, pr.probe, pr.path)
		}
		if p, err := port(pr.probe.HTTPGet.Port); err != nil || p != httpPort {
			return cfg, fmt.Errorf("%s probe on port %s (%d, %v), want the webhook listener %d", pr.name, pr.probe.HTTPGet.Port.String(), p, err, httpPort)
		}
	}
	if p := ctr.StartupProbe; p.PeriodSeconds*p.FailureThreshold < 120 {
		return cfg, fmt.Errorf("startup probe gives %d s, less than the 120 s a first cluster start can take", p.PeriodSeconds*p.FailureThreshold)
	}
	sel := dep.Spec.Selector
	if sel == nil || len(sel.MatchLabels) == 0 || !labels.SelectorFromSet(sel.MatchLabels).Matches(podLabels) {
		return cfg, fmt.Errorf("Deployment selector %v does not select its pods %v", sel, podLabels)
	}
	svcPorts := map[string]int32{} // Service/port name → container port
	for _, s := range o.services {
		if len(s.Spec.Selector) == 0 || !labels.SelectorFromSet(s.Spec.Selector).Matches(podLabels) {
			return cfg, fmt.Errorf("Service %s selector %v, pods %v", s.Name, s.Spec.Selector, podLabels)
		}
		for _, sp := range s.Spec.Ports {
			p, err := port(sp.TargetPort)
			if err != nil {
				return cfg, fmt.Errorf("Service %s port %s: %w", s.Name, sp.Name, err)
			}
			svcPorts[s.Name+"/"+sp.Name] = p
		}
	}
	for _, pdb := range o.pdbs {
		if pdb.Spec.Selector == nil || !labels.SelectorFromSet(pdb.Spec.Selector.MatchLabels).Matches(podLabels) {
			return cfg, fmt.Errorf("PodDisruptionBudget selector %v, pods %v", pdb.Spec.Selector, podLabels)
		}
		if pdb.Spec.MinAvailable.IntValue() >= int(*dep.Spec.Replicas) {
			return cfg, fmt.Errorf("PodDisruptionBudget minAvailable %s of %d replicas blocks every drain", pdb.Spec.MinAvailable.String(), *dep.Spec.Replicas)
		}
	}
	for _, np := range o.networkPolicies {
		if len(np.Spec.PodSelector.MatchLabels) == 0 || !labels.SelectorFromSet(np.Spec.PodSelector.MatchLabels).Matches(podLabels) {
			return cfg, fmt.Errorf("NetworkPolicy podSelector %v, pods %v", np.Spec.PodSelector, podLabels)
		}
		var in []int32
		for _, r := range np.Spec.Ingress {
			if len(r.From) == 0 {
				return cfg, fmt.Errorf("NetworkPolicy ingress rule open to everyone")
			}
			for _, p := range r.Ports {
				n, err := port(*p.Port)
				if err != nil {
					return cfg, fmt.Errorf("NetworkPolicy: %w", err)
				}
				in = append(in, n)
			}
		}
		if slices.Sort(in); !slices.Equal(in, []int32{httpPort, adminPort}) {
			return cfg, fmt.Errorf("NetworkPolicy admits ports %v, want %d and %d only", in, httpPort, adminPort)
		}
		for _, r := range np.Spec.Egress {
			if len(r.To) == 0 || len(r.Ports) == 0 {
				return cfg, fmt.Errorf("NetworkPolicy egress rule open to everyone or every port: %v", r)
			}
		}
	}
	for _, sm := range o.serviceMonitors {
		var admin *corev1.Service
		for _, s := range o.services {
			if sel, err := metav1.LabelSelectorAsSelector(&sm.Spec.Selector); err == nil && sel.Matches(labels.Set(s.Labels)) {
				if admin != nil {
					return cfg, fmt.Errorf("ServiceMonitor selects Services %s and %s", admin.Name, s.Name)
				}
				admin = s
			}
		}
		if admin == nil || len(sm.Spec.Endpoints) != 1 {
			return cfg, fmt.Errorf("ServiceMonitor selects no Service or has %d endpoints", len(sm.Spec.Endpoints))
		}
		ep := sm.Spec.Endpoints[0]
		if p, ok := svcPorts[admin.Name+"/"+ep.Port]; !ok || p != adminPort || ep.Path != "/metrics" {
			return cfg, fmt.Errorf("ServiceMonitor scrapes %s%s on Service %s (container port %d), want the admin listener %d", ep.Port, ep.Path, admin.Name, p, adminPort)
		}
		if sm.Spec.JobLabel == "" || admin.Labels[sm.Spec.JobLabel] != "scan-bridge" {
			return cfg, fmt.Errorf("ServiceMonitor jobLabel %q gives job %q, the alerts expect scan-bridge", sm.Spec.JobLabel, admin.Labels[sm.Spec.JobLabel])
		}
	}
	for _, r := range o.rules {
		if err := sameGroups(r.Spec.Groups); err != nil {
			return cfg, err
		}
	}

	// Secrets: only those named in the values, read-only to the group,
	// and every secret file of the config is a key the pod mounts.
	for _, v := range pod.Volumes {
		if v.Secret == nil {
			continue
		}
		if !slices.Contains(secrets, v.Secret.SecretName) {
			return cfg, fmt.Errorf("volume %s mounts Secret %s, which the values do not name (%v)", v.Name, v.Secret.SecretName, secrets)
		}
		if m := v.Secret.DefaultMode; m == nil || *m != 0o440 {
			return cfg, fmt.Errorf("Secret volume %s mode %v, want 0440", v.Name, m)
		}
	}
	for _, e := range ctr.Env {
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil && !slices.Contains(secrets, e.ValueFrom.SecretKeyRef.Name) {
			return cfg, fmt.Errorf("env %s reads Secret %s, which the values do not name", e.Name, e.ValueFrom.SecretKeyRef.Name)
		}
	}
	files := cfg.secretFiles()
	for _, e := range ctr.Env {
		if strings.HasSuffix(e.Name, "_FILE") {
			files = append(files, e.Value)
		}
	}
	for _, f := range files {
		v, key, err := mounted(pod, ctr, f)
		if err != nil {
			return cfg, err
		}
		if v.Secret == nil || "/run/secrets/"+v.Secret.SecretName+"/"+key != f {
			return cfg, fmt.Errorf("%s is not key %s of a mounted Secret", f, key)
		}
	}

	// GOMEMLIMIT: 90 % of the memory limit.
	limit := ctr.Resources.Limits[corev1.ResourceMemory]
	var soft string
	for _, e := range ctr.Env {
		if e.Name == "GOMEMLIMIT" {
			soft = e.Value
		}
	}
	if want := fmt.Sprint(limit.Value() * 9 / 10); soft != want || limit.IsZero() {
		return cfg, fmt.Errorf("GOMEMLIMIT %q with a memory limit of %s, want %s (90 %%)", soft, limit.String(), want)
	}
	if q := resource.MustParse(soft); q.Cmp(limit) >= 0 {
		return cfg, fmt.Errorf("GOMEMLIMIT %s is not below the limit %s", soft, limit.String())
	}
	return cfg, nil
}

// mounted finds the volume and key a file in the container comes from.
func mounted(pod corev1.PodSpec, c corev1.Container, path string) (corev1.Volume, string, error) {
	for _, vm := range c.VolumeMounts {
		rel, ok := strings.CutPrefix(path, strings.TrimSuffix(vm.MountPath, "/")+"/")
		if !ok || strings.Contains(rel, "/") {
			continue
		}
		if !vm.ReadOnly {
			return corev1.Volume{}, "", fmt.Errorf("%s: mount %s is writable", path, vm.MountPath)
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
			return corev1.Volume{}, "", fmt.Errorf("%s: volume %s projects nothing to %s", path, v.Name, rel)
		}
	}
	return corev1.Volume{}, "", fmt.Errorf("%s is on no volume mount", path)
}

func listenPort(listen string) (int32, error) {
	_, p, ok := strings.Cut(listen, ":")
	var n int32
	if _, err := fmt.Sscan(p, &n); !ok || err != nil {
		return 0, fmt.Errorf("listen address %q has no port", listen)
	}
	return n, nil
}

// sloExpr is ScanBridgeOldestUnscannedImage's expression with the scan
// SLO the values set (prometheusRule.oldestUnscannedImageSLOSeconds).
var sloExpr = regexp.MustCompile(`^max\(scanbridge_oldest_unscanned_image_age_seconds\) > ([0-9]+)$`)

// oldestUnscannedExpr is the expression of ScanBridgeOldestUnscannedImage
// in rendered groups ("" when there is none).
func oldestUnscannedExpr(groups []map[string]any) string {
	for _, g := range groups {
		rules, _ := g["rules"].([]any)
		for _, r := range rules {
			if m, ok := r.(map[string]any); ok && m["alert"] == "ScanBridgeOldestUnscannedImage" {
				e, _ := m["expr"].(string)
				return e
			}
		}
	}
	return ""
}

// sameGroups: the PrometheusRule holds files/alerts.yaml's groups as they
// are, but for the scan SLO the values may set (compared as the file's).
func sameGroups(groups []map[string]any) error {
	groups = withFileSLO(groups)
	data, err := os.ReadFile(filepath.Join(chartDir, "files", "alerts.yaml"))
	if err != nil {
		return err
	}
	js, err := sigsyaml.YAMLToJSON(data)
	if err != nil {
		return err
	}
	var f struct {
		Groups []map[string]any `json:"groups"`
	}
	if err := json.Unmarshal(js, &f); err != nil {
		return err
	}
	a, _ := json.Marshal(f.Groups)
	b, _ := json.Marshal(groups)
	if oldestUnscannedExpr(f.Groups) == "" {
		return fmt.Errorf("files/alerts.yaml has no ScanBridgeOldestUnscannedImage")
	}
	if !bytes.Equal(a, b) || len(f.Groups) == 0 {
		return fmt.Errorf("the PrometheusRule's groups differ from files/alerts.yaml")
	}
	return nil
}

// documentedKeys checks that every key of a rendered bridge.yaml is in the
// README's complete configuration example, is named in the README's text
// (as `a.b.c`, or as the start of one), or is one of pendingKeys.
func documentedKeys(config string) error {
	readme, err := os.ReadFile("../../../README.md")
	if err != nil {
		return err
	}
	block := regexp.MustCompile("(?s)```yaml\n(dry_run:.*?)```").FindSubmatch(readme)
	if block == nil {
		return fmt.Errorf("README.md has no complete example (a yaml block starting with dry_run:)")
	}
	var example, rendered any
	if err := yaml.Unmarshal(block[1], &example); err != nil {
		return fmt.Errorf("README example: %w", err)
	}
	if err := yaml.Unmarshal([]byte(config), &rendered); err != nil {
		return err
	}
	known := map[string]bool{}
	for _, k := range keyPaths("", example) {
		known[k] = true
	}
	for _, k := range keyPaths("", rendered) {
		if known[k] || slices.Contains(pendingKeys, k) || bytes.Contains(readme, []byte("`"+k+"`")) || bytes.Contains(readme, []byte("`"+k+".")) {
			continue
		}
		return fmt.Errorf("bridge.yaml key %s is not a setting the README documents", k)
	}
	return nil
}

// keyPaths lists the dotted key paths of a YAML value; list elements add
// nothing to the path, so receivers.auth.method is a key of any receiver.
// Maps under routes[].match and the like are kept whole.
func keyPaths(prefix string, v any) []string {
	var out []string
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			out = append(out, p)
			out = append(out, keyPaths(p, val)...)
		}
	case []any:
		for _, e := range x {
			out = append(out, keyPaths(prefix, e)...)
		}
	}
	return out
}

// withFileSLO is a copy of rendered groups with the scan SLO of
// ScanBridgeOldestUnscannedImage put back to the file's 7200.
func withFileSLO(groups []map[string]any) []map[string]any {
	var out []map[string]any
	b, _ := json.Marshal(groups)
	if err := json.Unmarshal(b, &out); err != nil {
		return groups
	}
	for _, g := range out {
		rules, _ := g["rules"].([]any)
		for _, r := range rules {
			if m, ok := r.(map[string]any); ok && m["alert"] == "ScanBridgeOldestUnscannedImage" {
				if e, _ := m["expr"].(string); sloExpr.MatchString(e) {
					m["expr"] = sloExpr.ReplaceAllString(e, "max(scanbridge_oldest_unscanned_image_age_seconds) > 7200")
				}
			}
		}
	}
	return out
}
