package sellerapi

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors of VerifyBodySign, so a caller can tell a seller that does not sign its
// answers (a configuration mismatch) from one whose signature is wrong (a wrong key or a
// tampered body) with errors.Is.
var (
	ErrBodySignMissing = errors.New("body-sign header missing")
	ErrBodySignInvalid = errors.New("body-sign header invalid")
)

// bodySignType is the only sign_type the protocol defines.
const bodySignType = "HMAC-SHA256"

func mac(key string, parts ...[]byte) []byte {
	m := hmac.New(sha256.New, []byte(key))
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}

// BodyDigest is the lower-case hex HMAC-SHA256 of the exact body bytes under the access
// key; it is the body's contribution to the request signature, so the body cannot be
// changed in transit without breaking the signature.
func BodyDigest(accessKey string, body []byte) string {
	return hex.EncodeToString(mac(accessKey, body))
}

func signatureMAC(accessKey, nonce, timestamp string, body []byte) []byte {
	msg := accessKey + nonce + timestamp + BodyDigest(accessKey, body)
	return mac(accessKey, []byte(msg))
}

// Signature is the request signature sent as the `signature` query parameter: upper-case
// hex HMAC-SHA256 of accessKey+nonce+timestamp+BodyDigest. Binding nonce and timestamp
// into it is what lets a seller refuse replays and stale requests.
func Signature(accessKey, nonce, timestamp string, body []byte) string {
	return strings.ToUpper(hex.EncodeToString(signatureMAC(accessKey, nonce, timestamp, body)))
}

// VerifySignature reports whether signature is the request signature of the other
// arguments. Hex of either case is accepted (the protocol allows it) and the comparison
// is constant-time so that timing does not leak how much of a forged signature matched.
// Malformed input (not hex, wrong length) is simply false.
func VerifySignature(accessKey, nonce, timestamp string, body []byte, signature string) bool {
	got, err := hex.DecodeString(signature)
	if err != nil || len(got) != sha256.Size {
		return false
	}
	return hmac.Equal(got, signatureMAC(accessKey, nonce, timestamp, body))
}

// NewNonce returns 32 lower-case hex characters from crypto/rand. Every request, retries
// included, needs a fresh one, because sellers refuse a nonce they have already seen.
func NewNonce() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("sellerapi: nonce: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// BodySignHeader is the value of the Body-Sign response header a seller sends:
// sign_type="HMAC-SHA256", signature="<base64 HMAC-SHA256 of the raw body>". It lets the
// marketplace check that an answer really comes from the seller and was not altered.
func BodySignHeader(accessKey string, body []byte) string {
	sig := base64.StdEncoding.EncodeToString(mac(accessKey, body))
	return `sign_type="` + bodySignType + `", signature="` + sig + `"`
}

// VerifyBodySign checks a Body-Sign header against the raw response body. The header is
// parsed strictly (exactly the two parameters sign_type and signature, each once, values
// in double quotes, sign_type HMAC-SHA256, signature standard base64 of 32 bytes), since a
// lenient parser is where signature checks usually go wrong. It returns nil, an error
// wrapping ErrBodySignMissing for an empty header, or one wrapping ErrBodySignInvalid.
func VerifyBodySign(accessKey string, body []byte, header string) error {
	if strings.TrimSpace(header) == "" {
		return ErrBodySignMissing
	}
	params, err := parseBodySign(header)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBodySignInvalid, err)
	}
	if params["sign_type"] != bodySignType {
		return fmt.Errorf("%w: unsupported sign_type", ErrBodySignInvalid)
	}
	got, err := base64.StdEncoding.Strict().DecodeString(params["signature"])
	if err != nil || len(got) != sha256.Size {
		return fmt.Errorf("%w: signature is not base64 of 32 bytes", ErrBodySignInvalid)
	}
	if !hmac.Equal(got, mac(accessKey, body)) {
		return fmt.Errorf("%w: signature does not match the body", ErrBodySignInvalid)
	}
	return nil
}

// parseBodySign splits `k1="v1", k2="v2"` into a map, requiring exactly sign_type and
// signature. Values may not contain quotes or commas (base64 and the type never do).
func parseBodySign(header string) (map[string]string, error) {
	params := map[string]string{}
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return nil, errors.New("parameter without '='")
		}
		if k != "sign_type" && k != "signature" {
			return nil, errors.New("unknown parameter")
		}
		if _, dup := params[k]; dup {
			return nil, errors.New("repeated parameter")
		}
		if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' || strings.Contains(v[1:len(v)-1], `"`) {
			return nil, errors.New("parameter value not in double quotes")
		}
		params[k] = v[1 : len(v)-1]
	}
	if len(params) != 2 {
		return nil, errors.New("want sign_type and signature")
	}
	return params, nil
}
