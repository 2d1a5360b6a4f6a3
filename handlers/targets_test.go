package handlers

import (
	"fmt"
	"net/http"
	"slices"
	"testing"

	"github.com/scan-bridge/scan-bridge/scanjob"
)

func TestTargets(t *testing.T) {
	other := scanjob.Target{Region: "ap-southeast-1", ProjectID: "p2", ImageType: scanjob.InstanceImage}
	recv := func(name string, t scanjob.Target) ReceiverConfig { return ReceiverConfig{Name: name, Target: t} }
	with := func(tt scanjob.Target, f func(*scanjob.Target)) scanjob.Target { f(&tt); return tt }
	tests := []struct {
		name      string
		receivers []ReceiverConfig
		routes    []RouteConfig
		want      []scanjob.Target
	}{
		{"a receiver without routes allows its own target", []ReceiverConfig{recv("a", target)}, nil,
			[]scanjob.Target{target}},
		{"a rule's target is applied over the receiver's, field by field",
			[]ReceiverConfig{recv("a", target)},
			[]RouteConfig{{Target: scanjob.Target{ImageType: scanjob.SharedImage}}, {Target: scanjob.Target{ProjectID: "p9", EnterpriseProjectID: "eps"}}},
			[]scanjob.Target{target,
				with(target, func(t *scanjob.Target) { t.ImageType = scanjob.SharedImage }),
				with(target, func(t *scanjob.Target) { t.ProjectID, t.EnterpriseProjectID = "p9", "eps" })}},
		{"a rule without a target rewrite adds nothing new",
			[]ReceiverConfig{recv("a", target)}, []RouteConfig{{Namespace: "library"}}, []scanjob.Target{target}},
		{"a drop rule adds nothing",
			[]ReceiverConfig{recv("a", target)}, []RouteConfig{{Action: ActionDrop}}, []scanjob.Target{target}},
		{"a rule for another receiver is not applied to this one",
			[]ReceiverConfig{recv("hub", target), recv("ee", other)},
			[]RouteConfig{{Match: RouteMatch{Receiver: "h*"}, Target: scanjob.Target{ProjectID: "p-hub"}}},
			[]scanjob.Target{target, other, with(target, func(t *scanjob.Target) { t.ProjectID = "p-hub" })}},
		{"every receiver with every rule, duplicates once",
			[]ReceiverConfig{recv("a", target), recv("b", target), recv("c", other)},
			[]RouteConfig{{Target: scanjob.Target{Region: "eu-west-101"}}},
			[]scanjob.Target{target, other,
				with(target, func(t *scanjob.Target) { t.Region = "eu-west-101" }),
				with(other, func(t *scanjob.Target) { t.Region = "eu-west-101" })}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Config{Receivers: tt.receivers, Routes: tt.routes}.Targets()
			if len(got) != len(tt.want) {
				t.Fatalf("Targets() = %v, want %v", got, tt.want)
			}
			for _, w := range tt.want {
				if !slices.Contains(got, w) {
					t.Fatalf("Targets() = %v lacks %v", got, w)
				}
			}
		})
	}
}

// TestTargetsHoldEveryRoutedJob runs pushes through the real routing
// (Explain) and checks that every job's target is on the list, so Targets
// cannot drift from route: a job the bridge makes must never be
// dead-lettered as an unknown target.
func TestTargetsHoldEveryRoutedJob(t *testing.T) {
	ee := scanjob.Target{Region: "ap-southeast-1", ProjectID: "p2", ImageType: scanjob.InstanceImage}
	cfg := DefaultConfig()
	cfg.Receivers = []ReceiverConfig{
		{Name: "hub", Format: "generic", Target: target, Auth: AuthConfig{Method: AuthNone}},
		{Name: "ee", Format: "generic", Target: ee, InstanceID: "i-1", Auth: AuthConfig{Method: AuthNone}},
	}
	cfg.Routes = []RouteConfig{
		{Match: RouteMatch{Repository: "sandbox/*"}, Action: ActionDrop},
		{Match: RouteMatch{Receiver: "hub", Namespace: "shared-*"}, Target: scanjob.Target{ImageType: scanjob.SharedImage, ProjectID: "p-shared"}},
		{Match: RouteMatch{Namespace: "eu-*"}, Target: scanjob.Target{Region: "eu-west-101", EnterpriseProjectID: "eps-eu"}},
		{Match: RouteMatch{Receiver: "ee", Namespace: "pay*"}, Namespace: "payments", Target: scanjob.Target{ProjectID: "p-pay"}},
	}
	s, err := New(cfg, Options{Publisher: &memPublisher{}})
	if err != nil {
		t.Fatal(err)
	}
	allowed := cfg.Targets()
	jobs := 0
	for _, recv := range []string{"hub", "ee"} {
		for _, repo := range []string{"team/app", "shared-x/app", "eu-team/app", "payx/app", "sandbox/tmp", "shared-eu/app"} {
			ex, err := s.Explain(recv, http.Header{}, fmt.Appendf(nil, `{"repository":%q,"tag":"1"}`, repo))
			if err != nil {
				t.Fatal(err)
			}
			for _, j := range ex.Jobs {
				jobs++
				if !slices.Contains(allowed, j.Job.Target) {
					t.Errorf("%s at %s became a job for %s (rule %d), which Targets() %v lacks", repo, recv, j.Job.Target.Key(), j.Decision.Rule, allowed)
				}
			}
		}
	}
	if jobs < 10 {
		t.Fatalf("only %d jobs routed: the test lost its cases", jobs)
	}
}
