package formats

// Polled applies the rules every format shares (decode.go: a push needs a
// repository and a tag; cosign and referrers tags and non-image media
// types are skipped; one repository:tag once) to pushes that were not read
// from a body but found by polling a registry (package sources), so a
// polled tag is skipped for the same reason, in the same words, as the
// same tag in a webhook.
func Polled(pushes []Push) Result {
	var b resultBuilder
	for _, p := range pushes {
		b.add(candidate{Push: p})
	}
	return b.result()
}
