// Package scanjob defines the scan job: the one value that travels from a
// registry webhook, through the JetStream queue, to an HSS batch-scan item.
//
// It sits below handlers and queue so both can import it without a cycle
// (handlers → queue → scanjob, handlers → scanjob). It must not import any
// other package of this module: it is the contract between them.
//
// Field limits are the HSS ones from the BatchScanSwrImageInfo table of the
// API reference (namespace 1-64, image_name 1-128, image_version 1-128,
// instance_id 1-128, instance_url 0-256), so a job that would be refused by
// HSS is refused at the door instead, where the sender can still be told.
package scanjob
