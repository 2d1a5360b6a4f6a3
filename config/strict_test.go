package config

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// A receiver and an hss section that pass, for the cases to break one
// thing at a time.
const (
	okReceivers = "receivers:\n  - {name: ci, format: generic, auth: {method: token, secrets: [a-secret-of-16-bytes]}}\n"
	okHSS       = "hss: {region: cn-north-4, project_id: p1}\n"
)

// TestConfigProblemsInTheUsersTerms is the list of mistakes a new user
// made, each with the whole error it now gets: the key as written and the
// setting meant, the variable, the rule in the setting's units, the value.
func TestConfigProblemsInTheUsersTerms(t *testing.T) {
	t.Setenv("HUAWEICLOUD_SDK_PROJECT_ID", "")
	tests := []struct {
		name string
		file string
		env  []string
		want string // the whole error after "invalid configuration, N problem(s):\n"
	}{
		{"a typo in a setting's name",
			okHSS + okReceivers + "dyr_run: true\n", nil,
			"dyr_run: unknown setting; did you mean dry_run?"},
		{"a typo in a nested setting's name",
			"hss: {region: cn-north-4, project_id: p1, calls_per_minut: 4}\n" + okReceivers, nil,
			"hss.calls_per_minut: unknown setting; did you mean hss.calls_per_minute?"},
		{"a typo inside a receiver",
			okHSS + "receivers:\n  - {name: ci, format: generic, auth: {method: token, secrets: [a-secret-of-16-bytes], secert: x}}\n", nil,
			"receivers[0].auth.secert: unknown setting; did you mean receivers[0].auth.secrets?"},
		{"a typo inside a route",
			okHSS + okReceivers + "routes:\n  - {match: {repo: 'a/*'}, action: drop}\n", nil,
			"routes[0].match.repo: unknown setting; did you mean routes[0].match.repository?"},
		{"a setting at the wrong level",
			okHSS + okReceivers + "calls_per_minute: 4\n", nil,
			"calls_per_minute: unknown setting; did you mean hss.calls_per_minute?"},
		{"a receiver's target field on the receiver",
			okHSS + "receivers:\n  - {name: ci, format: generic, project_id: p2, auth: {method: none}}\n", nil,
			"receivers[0].project_id: unknown setting; did you mean receivers[0].target.project_id?"},
		{"a variable with one underscore between the levels",
			okHSS + okReceivers, []string{"BRIDGE_HSS_CALLS_PER_MINUTE=4"},
			"BRIDGE_HSS_CALLS_PER_MINUTE: unknown setting; did you mean BRIDGE_HSS__CALLS_PER_MINUTE? (a double underscore separates the levels)"},
		{"a variable with a typo",
			okHSS + okReceivers, []string{"BRIDGE_HSS__CALLS_PER_MINUT=4"},
			"BRIDGE_HSS__CALLS_PER_MINUT: unknown setting; did you mean BRIDGE_HSS__CALLS_PER_MINUTE?"},
		{"a typo inside BRIDGE_RECEIVERS",
			okHSS, []string{`BRIDGE_RECEIVERS=[{"name":"ci","format":"generic","auth":{"method":"none"},"traget":{}}]`},
			"BRIDGE_RECEIVERS: receivers[0].traget: unknown setting; did you mean receivers[0].target?"},
		{"an auth method that is none of them",
			okHSS + "receivers:\n  - {name: ci, format: generic, auth: {method: magic}}\n", nil,
			`receivers[0].auth.method: "magic" is not one of token, basic, hmac, standard-webhooks, jwt, path-token, none`},
		{"a duration below its minimum",
			okHSS + okReceivers + "http: {read_timeout: 500ms}\n", nil,
			"http.read_timeout (BRIDGE_HTTP__READ_TIMEOUT): 500ms is below the minimum 1s"},
		{"a zero call timeout",
			okReceivers, []string{"BRIDGE_HSS__REGION=cn-north-4", "BRIDGE_HSS__PROJECT_ID=p1", "BRIDGE_HSS__CALL_TIMEOUT=0s"},
			"hss.call_timeout (BRIDGE_HSS__CALL_TIMEOUT): 0s is below the minimum 1ms"},
		{"a byte count below its minimum",
			okHSS + okReceivers + "http: {max_body_bytes: 512}\n", nil,
			"http.max_body_bytes (BRIDGE_HTTP__MAX_BODY_BYTES): 512 bytes is below the minimum 1 KiB"},
		{"a rate above the HSS API's total",
			okHSS + okReceivers, []string{"BRIDGE_HSS__CALLS_PER_MINUTE=601"},
			"hss.calls_per_minute (BRIDGE_HSS__CALLS_PER_MINUTE): 601 is above the maximum 600"},
		{"a zero rate",
			okHSS + okReceivers, []string{"BRIDGE_HSS__CALLS_PER_MINUTE=0"},
			"hss.calls_per_minute (BRIDGE_HSS__CALLS_PER_MINUTE): 0 must be above 0"},
		{"a log level that is none of them",
			okHSS + okReceivers + "log: {level: loud}\n", nil,
			`log.level (BRIDGE_LOG__LEVEL): "loud" is not one of debug, info, warn, error`},
		{"a variable that is not a duration names the variable",
			okHSS + okReceivers, []string{"BRIDGE_HTTP__READ_TIMEOUT=soon"},
			`BRIDGE_HTTP__READ_TIMEOUT (http.read_timeout): "soon" is not a duration such as 300ms, 5s or 168h`},
		{"a file value that is not a duration",
			okHSS + okReceivers + "http: {read_timeout: soon}\n", nil,
			`http.read_timeout (BRIDGE_HTTP__READ_TIMEOUT): "soon" is not a duration such as 300ms, 5s or 168h`},
		{"a value that is not a number",
			"hss: {region: cn-north-4, project_id: p1, burst: many}\n" + okReceivers, nil,
			`hss.burst (BRIDGE_HSS__BURST): "many" is not a whole number`},
		{"receivers without a project name the hss setting once",
			"hss: {region: cn-north-4}\nreceivers:\n  - {name: a, format: generic, auth: {method: none}}\n  - {name: b, format: generic, auth: {method: none}}\n", nil,
			`hss.project_id (BRIDGE_HSS__PROJECT_ID): is required, here or in HUAWEICLOUD_SDK_PROJECT_ID (receivers "a", "b" set no target.project_id)`},
		{"a receiver's own target field is its own",
			okHSS + "receivers:\n  - {name: a, format: generic, auth: {method: none}, target: {image_type: private}}\n", nil,
			`receivers[0].target.image_type: "private" is not one of private_image, shared_image, instance_image`},
		{"a queue setting",
			okHSS + okReceivers + "queue: {consumer: {heartbeat: 500ms}}\n", nil,
			"queue.consumer.heartbeat (BRIDGE_QUEUE__CONSUMER__HEARTBEAT) 500ms must be at least 1s"},
		{"a NATS address",
			okHSS + okReceivers + "nats: {listen: localhost}\n", nil,
			`nats.listen (BRIDGE_NATS__LISTEN) "localhost": address localhost: missing port in address`},
		{"a route template naming no variable",
			okHSS + okReceivers + "routes:\n  - {match: {repository_regexp: '^acme/(?P<app>.+)$'}, image: '${ap}'}\n", nil,
			`routes[0]: image "${ap}": ${ap} is no variable (namespace, image, repository, host, receiver) and no group of match.repository_regexp`},
		{"a presence timeout shorter than a sync",
			okHSS + "receivers:\n  - {name: ci, format: generic, auth: {method: none}, presence_timeout: 30s}\n", nil,
			"receivers[0].presence_timeout: 30s is below the minimum 1m (0 takes the default, 30m)"},
		{"a presence timeout the job stream does not keep a job for",
			okHSS + "receivers:\n  - {name: ci, format: generic, auth: {method: none}, presence_timeout: 200h}\n", nil,
			"receivers[0].presence_timeout: 200h must be below queue.stream.max_age (168h): the stream deletes a job that waits longer"},
		{"a sync interval below its minimum",
			okHSS + okReceivers, []string{"BRIDGE_HSS__SYNC_INTERVAL=10ms"},
			"hss.sync_interval (BRIDGE_HSS__SYNC_INTERVAL): 10ms is below the minimum 1s"},
		{"a lifecycle bucket name JetStream refuses",
			okHSS + okReceivers + "lifecycle: {bucket: scan.images}\n", nil,
			`lifecycle.bucket (BRIDGE_LIFECYCLE__BUCKET): "scan.images" may hold only letters, digits, '-' and '_'`},
		{"the lifecycle bucket is the shared limit's",
			okHSS + okReceivers + "lifecycle: {bucket: SCANBRIDGE_LIMITS}\n", nil,
			`lifecycle.bucket (BRIDGE_LIFECYCLE__BUCKET): "SCANBRIDGE_LIMITS" is hss.limit_kv.bucket too; the lifecycle records need a bucket of their own`},
		{"the result stream is the job stream",
			okHSS + okReceivers + "lifecycle: {results: {stream: SCANJOBS}}\n", nil,
			`lifecycle.results.stream (BRIDGE_LIFECYCLE__RESULTS__STREAM): "SCANJOBS" is the job or dead-letter stream's name; results need a stream of their own`},
		{"a lifecycle bucket below a MiB",
			okHSS + okReceivers, []string{"BRIDGE_LIFECYCLE__MAX_BYTES=65536"},
			"lifecycle.max_bytes (BRIDGE_LIFECYCLE__MAX_BYTES): 64 KiB is below the minimum 1 MiB"},
		{"lifecycle replicas above a cluster's",
			okHSS + okReceivers + "lifecycle: {replicas: 7}\n", nil,
			"lifecycle.replicas (BRIDGE_LIFECYCLE__REPLICAS): 7 is above the maximum 5"},
		{"a metrics cache below a second",
			okHSS + okReceivers + "lifecycle: {metrics_cache: 100ms}\n", nil,
			"lifecycle.metrics_cache (BRIDGE_LIFECYCLE__METRICS_CACHE): 100ms is below the minimum 1s"},
		{"a results subject with a wildcard",
			okHSS + okReceivers + "lifecycle: {results: {subject: 'results.>'}}\n", nil,
			`lifecycle.results.subject (BRIDGE_LIFECYCLE__RESULTS__SUBJECT): "results.>" must be dot-separated tokens of letters, digits, '-' and '_' (no wildcards)`},
		{"a results subject inside the jobs' subjects",
			okHSS + okReceivers + "lifecycle: {results: {subject: scanjobs.results}}\n", nil,
			`lifecycle.results.subject (BRIDGE_LIFECYCLE__RESULTS__SUBJECT): "scanjobs.results" overlaps queue.stream.subject_prefix: results and jobs need subjects of their own`},
		{"a results duplicate window longer than the stream keeps events",
			okHSS + okReceivers + "lifecycle: {results: {max_age: 1h, duplicates: 2h}}\n", nil,
			"lifecycle.results.duplicates (BRIDGE_LIFECYCLE__RESULTS__DUPLICATES): 2h must be at most lifecycle.results.max_age (1h)"},
		{"a results max age below a minute",
			okHSS + okReceivers + "lifecycle: {results: {max_age: 30s, duplicates: 10s}}\n", nil,
			"lifecycle.results.max_age (BRIDGE_LIFECYCLE__RESULTS__MAX_AGE): 30s is below the minimum 1m"},
		{"a mapping where a value should be",
			okHSS + okReceivers + "log: {level: {x: 1}}\n", nil,
			`log.level (BRIDGE_LOG__LEVEL): a mapping is not a string`},
		{"a value where a mapping should be",
			okHSS + okReceivers + "http: 8080\n", nil,
			`http: 8080 is not a mapping of settings`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadChecked(writeFile(t, tt.file), func() []string { return tt.env }, nil)
			want := "invalid configuration, 1 problem:\n" + tt.want
			if err == nil || err.Error() != want {
				t.Fatalf("got\n%v\nwant\n%s", err, want)
			}
		})
	}
}

func TestEveryProblemIsReportedTogether(t *testing.T) {
	file := "hss: {calls_per_minut: 4, burst: 0}\nhttp: {read_timeout: 10ms}\nreceivers:\n  - {name: ci, format: harbr, auth: {method: none}}\n"
	env := []string{"BRIDGE_LOG_LEVEL=debug", "BRIDGE_HSS__REGION=cn-north-4", "BRIDGE_HSS__PROJECT_ID=p1"}
	_, err := LoadChecked(writeFile(t, file), func() []string { return env }, nil)
	if err == nil {
		t.Fatal("accepted")
	}
	lines := strings.Split(err.Error(), "\n")
	want := []string{"hss.calls_per_minut", "BRIDGE_LOG_LEVEL", "http.read_timeout", "hss.burst", `receivers[0] "ci": format "harbr"`}
	if len(lines) != len(want)+1 || lines[0] != "invalid configuration, 5 problems:" {
		t.Fatalf("got\n%v\nwant a header and %d lines", err, len(want))
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i+1], w) {
			t.Errorf("line %d = %q, want it to start %q", i+1, lines[i+1], w)
		}
	}
}

func TestLoadIsStrict(t *testing.T) {
	if _, err := Load(writeFile(t, "htp: {listen: ':1'}\n"), func() []string { return nil }); err == nil || err.Error() != "htp: unknown setting; did you mean http?" {
		t.Fatalf("Load = %v", err)
	}
	// Case matters: koanf would have matched Listen to listen silently.
	if _, err := Load(writeFile(t, "http: {Listen: ':1'}\n"), func() []string { return nil }); err == nil || err.Error() != "http.Listen: unknown setting; did you mean http.listen?" {
		t.Fatalf("Load = %v", err)
	}
}

func TestEnvironmentThatIsNoSetting(t *testing.T) {
	tests := []struct {
		name    string
		env     string
		wantErr bool
	}{
		{"a variable of another program", "SCANBRIDGE_FAULTS_LONG=1", false},
		{"a variable Kubernetes adds for a Service named bridge", "BRIDGE_SERVICE_HOST=10.0.0.1", false},
		{"its port variables", "BRIDGE_PORT_8080_TCP_ADDR=10.0.0.1", false},
		{"a top-level setting has one underscore inside its name", "BRIDGE_DRY_RUN=true", false},
		{"the routes, whole, as JSON", `BRIDGE_ROUTES=[{"match":{"repository":"sandbox/*"},"action":"drop"}]`, false},
		{"deploy/compose.yaml's host variables", "BRIDGE_1_PORT=8081", false},
		{"an unknown BRIDGE_ variable", "BRIDGE_NATS_PASSWORD=x", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load("", func() []string { return []string{tt.env} })
			if (err != nil) != tt.wantErr {
				t.Fatalf("Load = %v, want error %v", err, tt.wantErr)
			}
		})
	}
}

// TestEverySettingHasATag: koanf matches an untagged field by its Go
// name, which the schema (and so the strict check) would not know.
func TestEverySettingHasATag(t *testing.T) {
	var check func(t reflect.Type, at string)
	seen := map[reflect.Type]bool{}
	check = func(typ reflect.Type, at string) {
		if seen[typ] {
			return
		}
		seen[typ] = true
		for i := range typ.NumField() {
			f := typ.Field(i)
			if !f.IsExported() {
				continue
			}
			tag := f.Tag.Get("koanf")
			if tag == "" {
				t.Errorf("%s.%s has no koanf tag", at, f.Name)
				continue
			}
			ft := f.Type
			if ft.Kind() == reflect.Slice {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct && ft != durationType {
				check(ft, at+"."+f.Name)
			}
			if ft.Kind() == reflect.Map || ft.Kind() == reflect.Pointer || ft.Kind() == reflect.Interface {
				t.Errorf("%s.%s is a %s, which the strict check does not look into", at, f.Name, ft.Kind())
			}
		}
	}
	check(reflect.TypeFor[Config](), "Config")
}

// TestEveryTagIsWorded: each validate rule on a setting has its sentence
// in rules.
func TestEveryTagIsWorded(t *testing.T) {
	n := 0
	schema().walk(func(nd *node) {
		for _, rule := range strings.Split(nd.validate, ",") {
			name, _, _ := strings.Cut(rule, "=")
			if name == "" || tagOptions[name] {
				continue
			}
			n++
			if _, ok := rules[name]; !ok {
				t.Errorf("%s: validate rule %q has no sentence in rules", nd.path, name)
			}
		}
	})
	if n < 10 {
		t.Fatalf("found %d rules: the walk misses the tags", n)
	}
}

func TestSecretSettings(t *testing.T) {
	for path := range secretSettings {
		if n := lookup(strings.ReplaceAll(path, "[]", "[0]")); n == nil || !n.isLeaf() {
			t.Errorf("secretSettings names %s, which is no setting", path)
		}
	}
	secretish := regexp.MustCompile(`secret|token|password|passwd|credential`)
	schema().walk(func(n *node) {
		if !n.isLeaf() || !secretish.MatchString(n.name) || strings.HasSuffix(n.name, "_file") || strings.HasSuffix(n.name, "_files") {
			return
		}
		if !secretSettings[n.path] {
			t.Errorf("%s looks like a secret: add it to secretSettings (or, if it is a path, end its name in _file)", n.path)
		}
	})
}

func TestDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"secert", "secret", 1},
		{"calls_per_minut", "calls_per_minute", 1},
		{"", "abc", 3},
		{"listen", "listen", 0},
		{"kitten", "sitting", 3},
	}
	for _, tt := range tests {
		if got := distance(tt.a, tt.b); got != tt.want {
			t.Errorf("distance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestPrint(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, `http:
  listen: 127.0.0.1:1
nats:
  url: nats://bridge:nats-pass-123@nats:4222
hss:
  region: cn-north-4
  secret_key: hss-sk-0123456789
admin:
  token: admin-token-0123456789
receivers:
  - name: ci
    format: generic
    auth: {method: token, secrets: [receiver-secret-0123], secret_files: [`+filepath.Join(dir, "s")+`]}
`)
	env := []string{"BRIDGE_HSS__CALLS_PER_MINUTE=4", "BRIDGE_HSS__PROJECT_ID=p1"}
	var out bytes.Buffer
	if err := Print(&out, path, func() []string { return env }, func(c *Config) { c.HTTP.Listen = "127.0.0.1:2" }); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, secret := range []string{"nats-pass-123", "hss-sk-0123456789", "admin-token-0123456789", "receiver-secret-0123"} {
		if strings.Contains(got, secret) {
			t.Errorf("the output shows the secret %s:\n%s", secret, got)
		}
	}
	for _, line := range []string{
		"  listen: 127.0.0.1:2 # flag",
		"  url: nats://bridge:xxxxx@nats:4222 # file",
		"  region: cn-north-4 # file",
		"  project_id: p1 # env BRIDGE_HSS__PROJECT_ID",
		"  calls_per_minute: 4 # env BRIDGE_HSS__CALLS_PER_MINUTE",
		"  secret_key: '[redacted]' # file",
		"  token: '[redacted]' # file",
		"  burst: 1 # default",
		"    max_age: 168h # default",
		"receivers: # file",
		"      secrets: ['[redacted]'] # file",
		"      secret_files: [" + filepath.Join(dir, "s") + "] # file",
		"      header: \"\" # default",
		"routes: [] # default",
		"  metrics_cache: 30s # default",
		"    source: urn:scan-bridge # default",
	} {
		if !strings.Contains(got, line+"\n") {
			t.Errorf("the output lacks the line %q:\n%s", line, got)
		}
	}
	// What is printed is a configuration: every key is a setting.
	if _, err := Load(writeFile(t, got), func() []string { return nil }); err != nil {
		t.Errorf("the printed configuration does not load: %v", err)
	}
	if err := Print(&out, writeFile(t, "hss: {burts: 1}\n"), func() []string { return nil }, nil); err == nil {
		t.Error("Print accepted an unknown key")
	}
}

func TestCheck(t *testing.T) {
	t.Setenv("HUAWEICLOUD_SDK_PROJECT_ID", "")
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing")
	file := okHSS + "nats: {data_dir: " + filepath.Join(dir, "nats") + "}\n"
	if _, err := Check(writeFile(t, file+okReceivers), func() []string { return nil }, nil); err != nil {
		t.Fatalf("Check = %v", err)
	}
	_, err := Check(writeFile(t, file+"admin: {token_file: "+missing+"}\n"), func() []string { return nil }, nil,
		func(Config) error { return nil },
		func(Config) error { return os.ErrPermission })
	want := "invalid configuration, 3 problems:\n" +
		"admin.token_file (BRIDGE_ADMIN__TOKEN_FILE): open " + missing + ": no such file or directory\n" +
		"receivers (BRIDGE_RECEIVERS): none configured; bridge serve needs at least one (see README)\n" +
		"permission denied"
	if err == nil || err.Error() != want {
		t.Fatalf("Check =\n%v\nwant\n%s", err, want)
	}
}

// TestRepositoryConfigsLoadStrictly loads every bridge configuration the
// repository ships: they must be made of settings only. The Kubernetes
// ConfigMap is the Helm chart's default render (deploy/helm/gen checks
// that it is current), so this is the chart's bridge.yaml too.
func TestRepositoryConfigsLoadStrictly(t *testing.T) {
	cm, err := os.ReadFile("../deploy/kubernetes/configmap.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var configMap struct {
		Data map[string]string `yaml:"data"`
	}
	if err := yaml.Unmarshal(cm, &configMap); err != nil || configMap.Data["bridge.yaml"] == "" {
		t.Fatalf("deploy/kubernetes/configmap.yaml has no bridge.yaml (%v)", err)
	}
	files := map[string]string{
		"examples/quickstart.yaml":                     "../examples/quickstart.yaml",
		"deploy/bridge.yaml":                           "../deploy/bridge.yaml",
		"deploy/kubernetes/configmap.yaml bridge.yaml": writeFile(t, configMap.Data["bridge.yaml"]),
	}
	for name, path := range files {
		t.Run(name, func(t *testing.T) {
			l, err := read(path, func() []string { return nil })
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range l.problems {
				if !pendingKey(p) {
					t.Error(p)
				}
			}
		})
	}
}

// pendingKeys are settings the chart writes that the configuration does
// not know yet; none today. deploy/helm/render/chart_test.go keeps the
// same list.
var pendingKeys []string

func pendingKey(problem string) bool {
	for _, k := range pendingKeys {
		if strings.HasPrefix(problem, k+": unknown setting") {
			return true
		}
	}
	return false
}
