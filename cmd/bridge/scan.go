package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/scan-bridge/scan-bridge/hssclient"
	"github.com/scan-bridge/scan-bridge/scanjob"
)

// scanFlags are the options of `bridge scan`.
type scanFlags struct {
	config                  string
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
// validation, authentication and rate limit as the bridge.
func newScanCmd() *cobra.Command {
	var f scanFlags
	cmd := &cobra.Command{
		Use:   "scan [NAMESPACE/IMAGE:TAG ...]",
		Short: "Ask HSS to scan the named images now, or every image matching filters with --all",
		Example: "  bridge scan --config bridge.yaml team/app:1.4 team/tools/cli:2.0\n" +
			"  bridge scan --config bridge.yaml --all --scan-status unscan --latest-version",
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadConfig(f.config, func(c *Config) {
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
			target := hssclient.Target{
				Region:              firstNonEmpty(f.region, cfg.HSS.Region),
				ProjectID:           firstNonEmpty(f.project, cfg.HSS.ProjectID, os.Getenv("HUAWEICLOUD_SDK_PROJECT_ID")),
				EnterpriseProjectID: firstNonEmpty(f.epsID, cfg.HSS.EnterpriseProjectID),
			}
			if err := target.Validate(); err != nil {
				return fmt.Errorf("target (--region, --project or hss.region, hss.project_id): %w", err)
			}
			if err := req.Validate(); err != nil {
				return fmt.Errorf("request: %w", err)
			}
			log := newLogger(cmd.ErrOrStderr(), cfg.Log)
			b, err := newHSSBackend(cfg.HSS, cfg.DryRun, prometheus.NewRegistry(), log)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			if err := b.send(ctx, target, req); err != nil {
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
	infos := make([]hssclient.ImageInfo, 0, len(args))
	for _, a := range args {
		ns, image, tag, err := parseImageArg(a)
		if err != nil {
			return hssclient.BatchScanRequest{}, err
		}
		infos = append(infos, hssclient.ImageInfo{Namespace: ns, ImageName: image, ImageVersion: tag, InstanceID: f.instanceID, InstanceURL: f.instanceURL})
	}
	return hssclient.TargetedScan(it, infos...), nil
}

// parseImageArg splits "team/sub/app:1.0" into team, sub/app and 1.0.
func parseImageArg(a string) (ns, image, tag string, err error) {
	slash := strings.LastIndex(a, "/")
	colon := strings.LastIndex(a, ":")
	if colon < slash || colon < 0 {
		return "", "", "", fmt.Errorf("%q: give NAMESPACE/IMAGE:TAG (HSS scans tags)", a)
	}
	ns, image = scanjob.SplitRepository(a[:colon])
	if ns == "" || image == "" || colon == len(a)-1 {
		return "", "", "", fmt.Errorf("%q: give NAMESPACE/IMAGE:TAG", a)
	}
	return ns, image, a[colon+1:], nil
}

// send makes one call under the rate limit, as the consumer does.
func (b *hssBackend) send(ctx context.Context, t hssclient.Target, req hssclient.BatchScanRequest) error {
	release, err := b.Acquire(ctx)
	if err != nil {
		return err
	}
	defer release()
	err = b.client.BatchScan(ctx, t, req)
	b.feedback(ctx, err)
	return err
}
