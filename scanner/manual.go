package scanner

import (
	"fmt"
	"strings"

	"github.com/scan-bridge/scan-bridge/hssclient"
	"github.com/scan-bridge/scan-bridge/scanjob"
)

// TargetedRequest is the request of a scan asked for by hand: one item per
// ref NAMESPACE/IMAGE:TAG, each with instanceID and instanceURL (the SWR
// Enterprise instance, for instance_image). It fails on the first ref that
// does not name a tag; the rest of the checks are BatchScanRequest.Validate.
func TargetedRequest(it hssclient.ImageType, instanceID, instanceURL string, refs ...string) (hssclient.BatchScanRequest, error) {
	infos := make([]hssclient.ImageInfo, 0, len(refs))
	for _, r := range refs {
		ns, image, tag, err := ParseRef(r)
		if err != nil {
			return hssclient.BatchScanRequest{}, err
		}
		infos = append(infos, hssclient.ImageInfo{Namespace: ns, ImageName: image, ImageVersion: tag,
			InstanceID: instanceID, InstanceURL: instanceURL})
	}
	return hssclient.TargetedScan(it, infos...), nil
}

// ParseRef splits "team/sub/app:1.0" into team, sub/app and 1.0, as SWR
// names them (scanjob.SplitRepository). The tag is required: HSS scans
// tags, not repositories, and a registry host is not part of an SWR name.
func ParseRef(ref string) (ns, image, tag string, err error) {
	slash := strings.LastIndex(ref, "/")
	colon := strings.LastIndex(ref, ":")
	if colon < slash || colon < 0 {
		return "", "", "", fmt.Errorf("%q: give NAMESPACE/IMAGE:TAG (HSS scans tags)", ref)
	}
	ns, image = scanjob.SplitRepository(ref[:colon])
	if ns == "" || image == "" || colon == len(ref)-1 {
		return "", "", "", fmt.Errorf("%q: give NAMESPACE/IMAGE:TAG", ref)
	}
	return ns, image, ref[colon+1:], nil
}
