package scanner

import (
	"context"
	"net/http"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/scan-bridge/scan-bridge/hssclient"
	"github.com/scan-bridge/scan-bridge/tracing"
)

// tracedBatchScan is h.client.BatchScan inside the span "hss batch-scan". One
// call carries many jobs, so the span has no parent from them but one link
// to each (tracing.Links: the queue put them in ctx, see queue/trace.go);
// a scan asked for by hand (Send) has none. hssclient stays free of
// tracing: what the span says is read here from the call's error.
func (h *HSS) tracedBatchScan(ctx context.Context, t hssclient.Target, req hssclient.BatchScanRequest) error {
	if !tracing.Enabled() {
		return h.client.BatchScan(ctx, t, req)
	}
	links := tracing.Links(ctx)
	ctx, span := tracing.Tracer().Start(ctx, "hss batch-scan", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithLinks(links...),
		trace.WithAttributes(attribute.String("hss.target", t.String()), attribute.String("hss.image_type", string(req.ImageType)),
			attribute.Int("hss.items", len(req.ImageInfoList)), attribute.Int("scanbridge.jobs", len(links))))
	defer span.End()
	err := h.client.BatchScan(ctx, t, req)
	if err == nil {
		span.SetAttributes(attribute.Int("http.response.status_code", http.StatusOK))
		return nil
	}
	v := h.Judge(err)
	attrs := []attribute.KeyValue{attribute.String("hss.outcome", v.Class.String())}
	if v.Status != 0 {
		attrs = append(attrs, attribute.Int("http.response.status_code", v.Status))
	}
	if v.Code != "" {
		attrs = append(attrs, attribute.String("hss.error_code", v.Code))
	}
	if v.RequestID != "" {
		attrs = append(attrs, attribute.String("hss.request_id", v.RequestID))
	}
	span.SetAttributes(attrs...)
	// hssclient's errors name what failed, never a credential.
	span.RecordError(err)
	span.SetStatus(codes.Error, v.Class.String())
	return err
}
