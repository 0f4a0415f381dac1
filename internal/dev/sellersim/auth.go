package sellersim

import (
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cloudmarket/orders/internal/sellerapi"
)

// authenticate checks a produce request's timestamp, signature and nonce, in that order,
// so that only requests signed with the seller's key can occupy nonce memory. It returns
// "" when the request is authentic, else the result code to answer (000001, or 000005
// when nonce memory is full) and a reason for the log. The caller holds s.mu.
func authenticate(sel *seller, q url.Values, body []byte, now time.Time) (code, reason string) {
	sig, ts, nonce := q.Get("signature"), q.Get("timestamp"), q.Get("nonce")
	if !isDigits(ts, 13) {
		return sellerapi.CodeAuthFailed, "timestamp is not 13 digits of Unix milliseconds"
	}
	ms, _ := strconv.ParseInt(ts, 10, 64)
	sent := time.UnixMilli(ms)
	if d := now.Sub(sent); (d > SignatureWindow || d < -SignatureWindow) && !sel.breaks(NCAcceptStaleTimestamp) {
		return sellerapi.CodeAuthFailed, "timestamp outside the signature window"
	}
	if len(nonce) != 32 || strings.Trim(nonce, "0123456789abcdef") != "" {
		return sellerapi.CodeAuthFailed, "nonce is not 32 lower-case hex characters"
	}
	if !sellerapi.VerifySignature(sel.accessKey, nonce, ts, body, sig) && !sel.breaks(NCAcceptWrongSignature) {
		return sellerapi.CodeAuthFailed, "signature does not match"
	}
	switch sel.nonces.use(nonce, sent.Add(SignatureWindow), now) {
	case nonceReplayed:
		if sel.breaks(NCAcceptReplayedNonce) {
			break
		}
		return sellerapi.CodeAuthFailed, "nonce already used"
	case nonceStoreFull:
		return sellerapi.CodeInternalError, "too many requests to remember their nonces"
	}
	return "", ""
}

func isDigits(s string, n int) bool {
	return len(s) == n && strings.Trim(s, "0123456789") == ""
}
