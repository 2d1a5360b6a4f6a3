package formats

// Tencent Container Registry (TCR) Enterprise Edition triggers.
// https://www.tencentcloud.com/document/product/1051/37254 ("Managing
// Triggers", "Webhook request format for reference")
//
// TCR Enterprise is built on Harbor and posts Harbor's Default payload
// unchanged: {"type":"pushImage","occur_at",…,"event_data":{"resources":[…],
// "repository":{…}},"operator"}; resource_url names the instance host
// (<instance>.tencentcloudcr.com). Trigger actions are push/delete image
// and upload/delete chart; the Harbor 2 names (PUSH_ARTIFACT, …) are
// accepted too. Nothing differs from Harbor, so "tencent-tcr" is an alias
// of the harbor decoder (harbor.go), kept as its own name so a receiver's
// config says which registry it serves and errors name it.
//
// TCR signs nothing; a trigger can carry custom headers (Key:Value, "for
// authentication and other scenarios"), so a static Authorization value is
// the proof a receiver can require.

func init() { register("tencent-tcr", decodeHarbor) }
