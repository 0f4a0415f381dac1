package sellersim

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cloudmarket/orders/internal/sellerapi"
)

// produceLicense is the licence a seller makes for an order line: derived from the line and
// the seller's key, so a resend (and a restarted simulator) gives the same licence.
func produceLicense(accessKey, orderID, orderLineID string) string {
	m := hmac.New(sha256.New, []byte(accessKey))
	m.Write([]byte("license\x00" + orderID + "\x00" + orderLineID))
	sum := strings.ToUpper(hex.EncodeToString(m.Sum(nil)))
	return "LIC-" + sum[:8] + "-" + sum[8:16] + "-" + sum[16:24] + "-" + sum[24:32]
}

// callbackAttempts and callbackWait bound how a seller retries its licence call.
const (
	callbackAttempts = 8
	callbackWait     = time.Second
)

// deliverLater sends an instance's licence through the marketplace's seller open API after
// delay, signed as the protocol signs (X-Seller-Id, X-Timestamp, X-Nonce, X-Signature),
// retrying until it is taken (200) or refused for good (4xx other than 429), then reads the
// order back to check the marketplace holds the same licence. The caller holds s.mu.
func (s *Simulator) deliverLater(sel *seller, inst *instance, delay time.Duration) {
	if s.callbackURL == "" {
		return
	}
	sellerID := ""
	for id, x := range s.sellers {
		if x == sel {
			sellerID = id
		}
	}
	key, orderID, line, lic := sel.accessKey, inst.OrderID, inst.OrderLineID, inst.License
	go func() {
		time.Sleep(delay)
		body, _ := json.Marshal(map[string]string{"orderLineId": line, "license": lic})
		status := 0
		for range callbackAttempts {
			status = s.signedCall(http.MethodPost, "/v1/seller-api/licenses/"+orderID, sellerID, key, body, nil)
			if status == http.StatusOK || (status >= 400 && status < 500 && status != http.StatusTooManyRequests) {
				break
			}
			time.Sleep(callbackWait)
		}
		var view struct {
			License *struct {
				SHA256 string `json:"sha256"`
			} `json:"license"`
		}
		checked := false
		if status == http.StatusOK && s.signedCall(http.MethodGet, "/v1/seller-api/orders/"+orderID, sellerID, key, nil, &view) == http.StatusOK {
			sum := sha256.Sum256([]byte(lic))
			checked = view.License != nil && view.License.SHA256 == hex.EncodeToString(sum[:])
		}
		s.mu.Lock()
		inst.LicenseStatus, inst.LicenseDelivered, inst.LicenseChecked = status, status == http.StatusOK, checked
		if s.store != nil && s.sellers[sellerID] == sel { // not after a reset
			if err := s.store.save(sellerID, sel, s.now(), inst); err != nil {
				s.log.Error("licence callback outcome not kept yet", "seller", sellerID, "order", orderID, "err", err)
			}
		}
		s.mu.Unlock()
		s.log.Info("licence callback", "seller", sellerID, "order", orderID, "status", status, "checked", checked)
	}()
}

// signedCall makes one signed call to the marketplace and decodes a JSON answer into out.
func (s *Simulator) signedCall(method, path, sellerID, key string, body []byte, out any) int {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s.mu.Lock()
	base := s.callbackURL
	s.mu.Unlock()
	req, err := http.NewRequestWithContext(ctx, method, base+path, bytes.NewReader(body))
	if err != nil {
		return 0
	}
	nonce, err := sellerapi.NewNonce()
	if err != nil {
		return 0
	}
	ts := strconv.FormatInt(time.Now().UnixMilli(), 10)
	req.Header.Set("X-Seller-Id", sellerID)
	req.Header.Set("X-Timestamp", ts)
	req.Header.Set("X-Nonce", nonce)
	req.Header.Set("X-Signature", sellerapi.Signature(key, nonce, ts, body))
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := s.client.Do(req)
	if err != nil {
		return 0
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if out != nil {
		_ = json.Unmarshal(raw, out)
	}
	return res.StatusCode
}
