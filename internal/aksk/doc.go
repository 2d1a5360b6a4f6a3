// Package aksk verifies requests signed with Huawei Cloud's AK/SK scheme
// (SDK-HMAC-SHA256) as the API gateway does, for the strict fakes of the
// HSS and SWR APIs (hssclient/hsstest, swrclient/swrtest): one verifier, so
// both fakes refuse exactly the same signatures.
//
// It is written from the signing spec, independently of hssclient's
// signer, so a signer bug shows up as a refusal, not as the same bug. It
// must not import any other package of this module.
package aksk
