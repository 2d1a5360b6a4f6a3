package config

import (
	"slices"
	"testing"
	"time"

	"github.com/scan-bridge/scan-bridge/handlers"
)

func TestRestartNeeded(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		want   []string
	}{
		{"nothing", func(*Config) {}, nil},
		{"only reloadable settings", func(c *Config) {
			c.Receivers = append(c.Receivers, handlers.ReceiverConfig{Name: "new"})
			c.Routes = []handlers.RouteConfig{{Action: handlers.ActionDrop}}
			c.Log.Level = "debug"
			c.HTTP.MaxBodyBytes *= 2
			c.HTTP.PublishTimeout = time.Second
			c.Admin.TokenFile = "/run/secrets/admin" // rotation; on/off is cmd/bridge's check
		}, nil},
		{"nats.url", func(c *Config) { c.NATS.URL = "nats://user:pw@elsewhere:4222" }, []string{"nats.url changed: restart the bridge to apply"}},
		{"lifecycle: every setting takes a restart", func(c *Config) {
			c.Lifecycle.Bucket = "other_images"
			c.Lifecycle.MetricsCache = time.Minute
			c.Lifecycle.Results.Subject = "other.results"
		}, []string{
			"lifecycle.bucket changed: restart the bridge to apply",
			"lifecycle.metrics_cache changed: restart the bridge to apply",
			"lifecycle.results.subject changed: restart the bridge to apply",
		}},
		{"several, in the order of the settings", func(c *Config) {
			c.HSS.ProjectID = "other"
			c.HTTP.Listen = ":9999"
			c.Log.Format = "text"
			c.Queue.Stream.Name = "OTHER"
			c.Log.Level = "debug"
		}, []string{
			"http.listen changed: restart the bridge to apply",
			"queue.stream.name changed: restart the bridge to apply",
			"hss.project_id changed: restart the bridge to apply",
			"log.format changed: restart the bridge to apply",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := Default()
			old.Receivers = []handlers.ReceiverConfig{{Name: "a"}}
			next := old
			next.Receivers = slices.Clone(old.Receivers)
			tt.mutate(&next)
			if got := old.RestartNeeded(next); !slices.Equal(got, tt.want) {
				t.Errorf("RestartNeeded =\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}
