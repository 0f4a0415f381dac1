// Package sellerapi is the seller protocol of /work/shared/docs/seller-protocol.md: how a
// request to a seller's production endpoint is signed, what its JSON looks like, what each
// result code means to the marketplace, and an HTTP client that speaks it.
//
// The package is shared by the marketplace's seller activities and by the seller simulator
// (internal/dev/sellersim), so that both sides of the wire are built from one definition and
// tests can prove they interoperate. It holds no Temporal code: the activities map a
// *CallError to a Temporal application error with Class.ErrorType and Class.Retryable.
package sellerapi
