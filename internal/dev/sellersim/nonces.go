package sellersim

import "time"

// maxNonces bounds one seller's nonce memory. Nonces expire after the signature window,
// so the bound is only reached by more than about 500 authenticated requests a second;
// then requests are refused rather than replays allowed.
const maxNonces = 1 << 16

// nonceStore remembers the nonces of recent authenticated requests to refuse replays.
// A nonce is kept until its request's timestamp leaves the signature window, after which
// the timestamp check alone refuses a replay.
type nonceStore struct {
	seen      map[string]time.Time // nonce -> time after which it can be forgotten
	lastSweep time.Time
	// track makes use note fresh nonces in pending too, for the store to write before the
	// request is answered (store.go); off without a database.
	track   bool
	pending map[string]time.Time
}

// nonceResult is the verdict on a nonce.
type nonceResult int

const (
	nonceFresh nonceResult = iota
	nonceReplayed
	nonceStoreFull
)

// use records nonce until forgetAt and reports whether it was fresh.
func (n *nonceStore) use(nonce string, forgetAt, now time.Time) nonceResult {
	if now.Sub(n.lastSweep) >= time.Second || len(n.seen) >= maxNonces {
		for k, until := range n.seen {
			if now.After(until) {
				delete(n.seen, k)
			}
		}
		for k, until := range n.pending {
			if now.After(until) {
				delete(n.pending, k)
			}
		}
		n.lastSweep = now
	}
	if until, ok := n.seen[nonce]; ok && !now.After(until) {
		return nonceReplayed
	}
	if len(n.seen) >= maxNonces {
		return nonceStoreFull
	}
	n.seen[nonce] = forgetAt
	if n.track {
		if n.pending == nil {
			n.pending = map[string]time.Time{}
		}
		n.pending[nonce] = forgetAt
	}
	return nonceFresh
}
