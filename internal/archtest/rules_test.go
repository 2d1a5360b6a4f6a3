package archtest

// rule is one package's import rule, as its doc.go states it.
type rule struct {
	// pkg is the package's path in the module, e.g. "handlers/formats".
	pkg string
	// leaf: it must not import any other package of the module.
	leaf bool
	// not are the module packages it must not import, directly or through
	// another package.
	not []string
	// tests: the rule covers its test files too, for a package made of
	// tests. Elsewhere tests may import more (ratelimit's tests check it
	// satisfies hssclient.Limiter).
	tests bool
}

// rules is one line per package whose doc.go says what it must not
// import. Every line must match its doc.go, and every such doc.go must have
// a line. A line for a package that does not exist fails the test.
var rules = []rule{
	{pkg: "scanjob", leaf: true},
	{pkg: "handlers/formats", leaf: true}, // leaf is about this module only: its one third-party import, gjson, is held by its own test
	{pkg: "hssclient", leaf: true},
	{pkg: "hssclient/hsstest", not: []string{"hssclient", "cmd/bridge"}},
	{pkg: "internal/aksk", leaf: true},
	{pkg: "queue", not: []string{"handlers", "hssclient", "scanner", "cmd/bridge"}},
	{pkg: "ratelimit", not: []string{"hssclient", "queue", "scanner", "handlers", "cmd/bridge"}},
	{pkg: "scanner", not: []string{"handlers", "admin", "cmd/bridge"}},
	{pkg: "handlers", not: []string{"queue", "admin", "hssclient", "cmd/bridge"}},
	{pkg: "config", not: []string{"admin", "cmd/bridge"}},
	{pkg: "admin", not: []string{"handlers", "hssclient", "cmd/bridge"}},
	{pkg: "natsconn", leaf: true},
	{pkg: "lifecycle", not: []string{"queue", "scanner", "hssclient", "handlers", "admin", "cmd/bridge"}},
	{pkg: "notify", not: []string{"queue", "scanner", "hssclient", "handlers", "admin", "config", "cmd/bridge"}},
	{pkg: "tracing", leaf: true},
	{pkg: "sources", not: []string{"queue", "scanner", "admin", "cmd/bridge"}},
	{pkg: "swrclient", not: []string{"queue", "scanner", "handlers", "sources", "admin", "cmd/bridge"}},
	{pkg: "swrclient/swrtest", not: []string{"hssclient", "swrclient", "cmd/bridge"}},
	{pkg: "schedules", not: []string{"queue", "scanner", "handlers", "admin", "cmd/bridge"}},
	{pkg: "faults", not: []string{"cmd/bridge", "handlers"}, tests: true},
	{pkg: "security", not: []string{"cmd/bridge", "handlers", "admin"}, tests: true},
	{pkg: "internal/natstest", leaf: true},
	{pkg: "internal/bridgeproc", leaf: true},
	{pkg: "internal/archtest", leaf: true, tests: true},
}
