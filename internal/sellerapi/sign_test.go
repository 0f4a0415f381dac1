package sellerapi

import (
	"errors"
	"regexp"
	"strings"
	"testing"
)

// The test vectors of seller-protocol.md, byte for byte.
const (
	vecKey       = "sk-test-0123456789abcdef"
	vecNonce     = "9b2f4c6d8e0a1b3c5d7e9f1a2b3c4d5e"
	vecTimestamp = "1764000000000"
	vecBody      = `{"activity":"newInstance","orderId":"CS2211241234ABCD","orderLineId":"CS2211241234ABCD-000001","businessId":"7f1c2a9e-4b7d-4c1e-9a3f-2d5e6f708192"}`
	vecDigest    = "62fbb63effde7976d5e2ecb36ee46db6a879765a97dca0fbd2daff6ab28f46aa"
	vecSignature = "BDB49DDD77BA75B1E080F0B6D69D29974CD7CFA2EBDF69172AD5A4444547B195"

	vecRespBody = `{"resultCode":"000000","resultMsg":"success","instanceId":"inst-1"}`
	vecRespSign = "uWZg4u1hrhtu43shwajJBItnm+0wtyxtJ3vNyYAXZHc="
)

func TestRequestVector(t *testing.T) {
	if got := BodyDigest(vecKey, []byte(vecBody)); got != vecDigest {
		t.Errorf("BodyDigest = %s, want %s", got, vecDigest)
	}
	if got := Signature(vecKey, vecNonce, vecTimestamp, []byte(vecBody)); got != vecSignature {
		t.Errorf("Signature = %s, want %s", got, vecSignature)
	}
}

func TestResponseVector(t *testing.T) {
	want := `sign_type="HMAC-SHA256", signature="` + vecRespSign + `"`
	if got := BodySignHeader(vecKey, []byte(vecRespBody)); got != want {
		t.Errorf("BodySignHeader = %s, want %s", got, want)
	}
	if err := VerifyBodySign(vecKey, []byte(vecRespBody), want); err != nil {
		t.Errorf("VerifyBodySign(vector) = %v", err)
	}
}

func TestVerifySignature(t *testing.T) {
	body := []byte(vecBody)
	tests := []struct {
		name                string
		key, nonce, ts, sig string
		body                []byte
		want                bool
	}{
		{"vector upper", vecKey, vecNonce, vecTimestamp, vecSignature, body, true},
		{"vector lower", vecKey, vecNonce, vecTimestamp, strings.ToLower(vecSignature), body, true},
		{"mixed case", vecKey, vecNonce, vecTimestamp, "bdb49ddd77BA75B1E080F0B6D69D29974CD7CFA2EBDF69172AD5A4444547b195", body, true},
		{"wrong key", "sk-other", vecNonce, vecTimestamp, vecSignature, body, false},
		{"wrong nonce", vecKey, strings.Repeat("0", 32), vecTimestamp, vecSignature, body, false},
		{"wrong timestamp", vecKey, vecNonce, "1764000000001", vecSignature, body, false},
		{"body changed", vecKey, vecNonce, vecTimestamp, vecSignature, append([]byte(vecBody), ' '), false},
		{"empty body", vecKey, vecNonce, vecTimestamp, vecSignature, nil, false},
		{"one digit changed", vecKey, vecNonce, vecTimestamp, "CDB49DDD77BA75B1E080F0B6D69D29974CD7CFA2EBDF69172AD5A4444547B195", body, false},
		{"truncated", vecKey, vecNonce, vecTimestamp, vecSignature[:62], body, false},
		{"too long", vecKey, vecNonce, vecTimestamp, vecSignature + "00", body, false},
		{"odd length", vecKey, vecNonce, vecTimestamp, vecSignature[:63], body, false},
		{"not hex", vecKey, vecNonce, vecTimestamp, "XDB49DDD77BA75B1E080F0B6D69D29974CD7CFA2EBDF69172AD5A4444547B195", body, false},
		{"empty", vecKey, vecNonce, vecTimestamp, "", body, false},
		{"spaces", vecKey, vecNonce, vecTimestamp, " " + vecSignature, body, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := VerifySignature(tt.key, tt.nonce, tt.ts, tt.body, tt.sig); got != tt.want {
				t.Errorf("VerifySignature = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestVerifyBodySign(t *testing.T) {
	body := []byte(vecRespBody)
	sig := `signature="` + vecRespSign + `"`
	typ := `sign_type="HMAC-SHA256"`
	tests := []struct {
		name   string
		header string
		body   []byte
		want   error // nil, ErrBodySignMissing or ErrBodySignInvalid
	}{
		{"vector", typ + ", " + sig, body, nil},
		{"no space", typ + "," + sig, body, nil},
		{"reordered", sig + ", " + typ, body, nil},
		{"surrounding spaces", "  " + typ + " ,  " + sig + " ", body, nil},
		{"empty", "", body, ErrBodySignMissing},
		{"blank", "   ", body, ErrBodySignMissing},
		{"body changed", typ + ", " + sig, []byte(vecRespBody + "\n"), ErrBodySignInvalid},
		{"wrong signature", typ + `, signature="vWZg4u1hrhtu43shwajJBItnm+0wtyxtJ3vNyYAXZHc="`, body, ErrBodySignInvalid},
		{"other sign_type", `sign_type="HMAC-SHA1", ` + sig, body, ErrBodySignInvalid},
		{"lower-case sign_type", `sign_type="hmac-sha256", ` + sig, body, ErrBodySignInvalid},
		{"signature only", sig, body, ErrBodySignInvalid},
		{"sign_type only", typ, body, ErrBodySignInvalid},
		{"unquoted", `sign_type=HMAC-SHA256, signature=` + vecRespSign, body, ErrBodySignInvalid},
		{"repeated", typ + ", " + sig + ", " + sig, body, ErrBodySignInvalid},
		{"unknown parameter", typ + ", " + sig + `, alg="x"`, body, ErrBodySignInvalid},
		{"trailing comma", typ + ", " + sig + ",", body, ErrBodySignInvalid},
		{"no equals", typ + ", signature", body, ErrBodySignInvalid},
		{"quote inside", typ + `, signature="uWZg"4u1"`, body, ErrBodySignInvalid},
		{"url base64", typ + `, signature="uWZg4u1hrhtu43shwajJBItnm-0wtyxtJ3vNyYAXZHc="`, body, ErrBodySignInvalid},
		{"no padding", typ + `, signature="uWZg4u1hrhtu43shwajJBItnm+0wtyxtJ3vNyYAXZHc"`, body, ErrBodySignInvalid},
		{"non-zero padding bits", typ + `, signature="uWZg4u1hrhtu43shwajJBItnm+0wtyxtJ3vNyYAXZHd="`, body, ErrBodySignInvalid},
		{"hex instead of base64", typ + `, signature="` + vecDigest + `"`, body, ErrBodySignInvalid},
		{"key case", `Sign_Type="HMAC-SHA256", ` + sig, body, ErrBodySignInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := VerifyBodySign(vecKey, tt.body, tt.header)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("VerifyBodySign = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("VerifyBodySign = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestNewNonce(t *testing.T) {
	re := regexp.MustCompile(`^[0-9a-f]{32}$`)
	seen := map[string]bool{}
	for range 100 {
		n, err := NewNonce()
		if err != nil {
			t.Fatal(err)
		}
		if !re.MatchString(n) {
			t.Fatalf("nonce %q is not 32 lower-case hex", n)
		}
		if seen[n] {
			t.Fatalf("nonce %q repeated", n)
		}
		seen[n] = true
	}
}

// mutateHex changes the character at i%len(s) to a different hex digit.
func mutateHex(s string, i int) string {
	b := []byte(s)
	i %= len(b)
	if b[i] == '0' {
		b[i] = '1'
	} else {
		b[i] = '0'
	}
	return string(b)
}

func FuzzVerifySignature(f *testing.F) {
	f.Add(vecKey, vecNonce, vecTimestamp, []byte(vecBody), vecSignature, 0)
	f.Add(vecKey, vecNonce, vecTimestamp, []byte(vecBody), strings.ToLower(vecSignature), 63)
	f.Add("", "", "", []byte{}, "", 7)
	f.Add("k", "n", "t", []byte("{}"), "zz", -5)
	f.Fuzz(func(t *testing.T, key, nonce, ts string, body []byte, sig string, pos int) {
		if VerifySignature(key, nonce, ts, body, sig) && !strings.EqualFold(sig, Signature(key, nonce, ts, body)) {
			t.Fatalf("accepted a signature that is not the signature")
		}
		good := Signature(key, nonce, ts, body)
		if !VerifySignature(key, nonce, ts, body, good) || !VerifySignature(key, nonce, ts, body, strings.ToLower(good)) {
			t.Fatalf("own signature does not verify")
		}
		if pos < 0 {
			pos = -pos
		}
		if pos < 0 { // math.MinInt
			pos = 0
		}
		if VerifySignature(key, nonce, ts, body, mutateHex(good, pos)) {
			t.Fatalf("mutated signature verifies")
		}
		if VerifySignature(key, nonce, ts, append(body, 'x'), good) {
			t.Fatalf("signature verifies for another body")
		}
	})
}

func FuzzVerifyBodySign(f *testing.F) {
	f.Add(vecKey, []byte(vecRespBody), `sign_type="HMAC-SHA256", signature="`+vecRespSign+`"`, 0)
	f.Add(vecKey, []byte(vecRespBody), `signature="`+vecRespSign+`",sign_type="HMAC-SHA256"`, 30)
	f.Add("", []byte{}, "", 1)
	f.Add("k", []byte("x"), `sign_type="", signature=""`, 43)
	f.Add("k", []byte("x"), `,,==""`, 2)
	f.Fuzz(func(t *testing.T, key string, body []byte, header string, pos int) {
		if err := VerifyBodySign(key, body, header); err != nil &&
			!errors.Is(err, ErrBodySignMissing) && !errors.Is(err, ErrBodySignInvalid) {
			t.Fatalf("error %v is neither sentinel", err)
		}
		good := BodySignHeader(key, body)
		if err := VerifyBodySign(key, body, good); err != nil {
			t.Fatalf("own header does not verify: %v", err)
		}
		if err := VerifyBodySign(key, append(body, 'x'), good); !errors.Is(err, ErrBodySignInvalid) {
			t.Fatalf("header verifies for another body: %v", err)
		}
		// Change one base64 character of the signature (44 chars, the last is '=').
		start := strings.Index(good, `signature="`) + len(`signature="`)
		if pos < 0 {
			pos = -pos
		}
		if pos < 0 {
			pos = 0
		}
		i := start + pos%43
		b := []byte(good)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		if err := VerifyBodySign(key, body, string(b)); !errors.Is(err, ErrBodySignInvalid) {
			t.Fatalf("mutated header verifies: %v", err)
		}
	})
}
