package main

import (
	"fmt"
	"os"
	"os/signal"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/scan-bridge/scan-bridge/config"
	"github.com/scan-bridge/scan-bridge/hssclient"
	"github.com/scan-bridge/scan-bridge/scanjob"
	"github.com/scan-bridge/scan-bridge/scanner"
)

// scanFlags are the options of `bridge scan`.
type scanFlags struct {
	config                  string
	natsURL                 string
	dryRun                  bool
	all                     bool
	region, project, epsID  string
	imageType               string
	instanceID, instanceURL string
	// full-scan filters, named as in the API reference
	namespace, imageName, imageVersion, scanStatus string
	latestVersion                                  bool
	imageSize                                      int64
	startUpdate, endUpdate, startScan, endScan     int64
}

// newScanCmd lets an operator ask HSS for a scan by hand, through the same
// validation, authentication and rate limit as the bridge: with
// hss.shared_limit on, the running bridge's own limiter, over its NATS.
func newScanCmd() *cobra.Command {
	var f scanFlags
	cmd := &cobra.Command{
		Use:   "scan [NAMESPACE/IMAGE:TAG ...]",
		Short: "Ask HSS to scan the named images now, or every image matching filters with --all",
		Example: "  bridge scan --config bridge.yaml team/app:1.4 team/tools/cli:2.0\n" +
			"  bridge scan --config bridge.yaml --all --scan-status unscan --latest-version",
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadConfig(f.config, func(c *config.Config) {
				if cmd.Flags().Changed("dry-run") {
					c.DryRun = f.dryRun
				}
			})
			if err != nil {
				return err
			}
			req, err := f.request(cmd, args)
			if err != nil {
				return err
			}
			t := cfg.HSS.FillTarget(scanjob.Target{Region: f.region, ProjectID: f.project, EnterpriseProjectID: f.epsID,
				ImageType: scanjob.ImageType(f.imageType)})
			target := hssclient.Target{Region: t.Region, ProjectID: t.ProjectID, EnterpriseProjectID: t.EnterpriseProjectID}
			if err := target.Validate(); err != nil {
				return fmt.Errorf("target (--region, --project or hss.region, hss.project_id): %w", err)
			}
			if err := req.Validate(); err != nil {
				return fmt.Errorf("request: %w", err)
			}
			log := newLogger(cmd.ErrOrStderr(), cfg.Log)
			h, err := newHSS(cfg, prometheus.NewRegistry(), log)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			closeNATS, err := joinSharedLimit(ctx, cfg, f.natsURL, h, log)
			if err != nil {
				return err
			}
			defer closeNATS()
			if err := h.Send(ctx, target, req); err != nil {
				return fmt.Errorf("scan: %w", err)
			}
			what := fmt.Sprintf("%d image(s)", len(req.ImageInfoList))
			if req.IsFullScan() {
				what = "every matching image"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "HSS accepted the scan of %s in project %s (%s)\n", what, target.ProjectID, target.Region)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.config, "config", "c", "", "YAML config file (for credentials and defaults)")
	fl.BoolVar(&f.dryRun, "dry-run", false, "send to the built-in simulator instead of HSS")
	fl.StringVar(&f.natsURL, "nats-url", "", "the bridge's NATS, for the shared rate limit (default nats.url, else nats://<nats.listen>)")
	fl.BoolVar(&f.all, "all", false, "full scan (operate_all) of every image matching the filters")
	fl.StringVar(&f.region, "region", "", "region (default hss.region)")
	fl.StringVar(&f.project, "project", "", "project id (default hss.project_id)")
	fl.StringVar(&f.epsID, "enterprise-project", "", "enterprise_project_id (default hss.enterprise_project_id)")
	fl.StringVar(&f.imageType, "image-type", string(scanjob.PrivateImage), "private_image, shared_image or instance_image")
	fl.StringVar(&f.instanceID, "instance-id", "", "SWR Enterprise instance id (instance_image)")
	fl.StringVar(&f.instanceURL, "instance-url", "", "SWR Enterprise image download URL (instance_image)")
	fl.StringVar(&f.namespace, "namespace", "", "with --all: organization filter")
	fl.StringVar(&f.imageName, "image-name", "", "with --all: image name filter")
	fl.StringVar(&f.imageVersion, "image-version", "", "with --all: tag filter")
	fl.StringVar(&f.scanStatus, "scan-status", "", "with --all: unscan, success, scanning, failed, download_failed or image_oversized")
	fl.BoolVar(&f.latestVersion, "latest-version", false, "with --all: latest version of each image only")
	fl.Int64Var(&f.imageSize, "image-size", 0, "with --all: image size filter")
	fl.Int64Var(&f.startUpdate, "start-update-time", 0, "with --all: start_latest_update_time (ms)")
	fl.Int64Var(&f.endUpdate, "end-update-time", 0, "with --all: end_latest_update_time (ms)")
	fl.Int64Var(&f.startScan, "start-scan-time", 0, "with --all: start_latest_scan_time (ms)")
	fl.Int64Var(&f.endScan, "end-scan-time", 0, "with --all: end_latest_scan_time (ms)")
	return cmd
}

// request builds the HSS request from the flags and arguments.
func (f scanFlags) request(cmd *cobra.Command, args []string) (hssclient.BatchScanRequest, error) {
	it := hssclient.ImageType(f.imageType)
	if f.all {
		if len(args) > 0 {
			return hssclient.BatchScanRequest{}, fmt.Errorf("--all scans by filters; do not also name images (%s)", strings.Join(args, " "))
		}
		r := hssclient.FullScan(it)
		r.Namespace, r.ImageName, r.ImageVersion = f.namespace, f.imageName, f.imageVersion
		r.ScanStatus = hssclient.ScanStatus(f.scanStatus)
		changed := cmd.Flags().Changed
		if changed("latest-version") {
			r.LatestVersion = &f.latestVersion
		}
		for name, dst := range map[string]**int64{"image-size": &r.ImageSize, "start-update-time": &r.StartLatestUpdateTime,
			"end-update-time": &r.EndLatestUpdateTime, "start-scan-time": &r.StartLatestScanTime, "end-scan-time": &r.EndLatestScanTime} {
			if changed(name) {
				v, _ := cmd.Flags().GetInt64(name)
				*dst = &v
			}
		}
		return r, nil
	}
	if len(args) == 0 {
		return hssclient.BatchScanRequest{}, fmt.Errorf("name at least one NAMESPACE/IMAGE:TAG, or use --all")
	}
	return scanner.TargetedRequest(it, f.instanceID, f.instanceURL, args...)
}
