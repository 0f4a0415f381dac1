package sellersim

import (
	"errors"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/cloudmarket/orders/internal/sellerapi"
)

// The admin API takes the non-conformance modes, shows them, refuses unknown ones, and an
// empty list makes the seller conforming again. (internal/sellercheck's table test shows
// each mode caught by the checker.)
func TestNonConformanceAdmin(t *testing.T) {
	e := newEnv(t)
	var b behaviour
	if st := e.admin(t, http.MethodPut, "/admin/sellers/"+sellerID+"/behaviour", `{"nonConformance":["slow","badResultCode"]}`, &b); st != http.StatusOK {
		t.Fatalf("status %d", st)
	}
	if !slices.Equal(b.NonConformance, []string{NCSlow, NCBadResultCode}) {
		t.Fatalf("behaviour = %+v", b)
	}
	if st := e.admin(t, http.MethodPut, "/admin/sellers/"+sellerID+"/behaviour", `{"nonConformance":["lieAboutEverything"]}`, nil); st != http.StatusBadRequest {
		t.Fatalf("unknown mode: status %d", st)
	}
	var reset behaviour
	e.admin(t, http.MethodPut, "/admin/sellers/"+sellerID+"/behaviour", `{"nonConformance":[]}`, &reset)
	if len(reset.NonConformance) != 0 {
		t.Fatalf("behaviour after reset = %+v", reset)
	}
}

// Each mode that breaks an answer breaks it as the protocol client sees it.
func TestNonConformanceAnswers(t *testing.T) {
	tests := []struct {
		mode  string
		check func(t *testing.T, e *env)
	}{
		{NCUnsignedResponses, func(t *testing.T, e *env) {
			_, err := e.call(t, newInst("o-u", "1"))
			if !errors.Is(err, sellerapi.ErrBodySignMissing) {
				t.Errorf("err = %v, want Body-Sign missing", err)
			}
		}},
		{NCBadResultCode, func(t *testing.T, e *env) {
			id := e.mustCall(t, newInst("o-b", "1")).InstanceID
			if code := e.codeOf(t, status(id, sellerapi.StatusFreeze)); code != badResultCode {
				t.Errorf("code = %q", code)
			}
		}},
		{NCNewInstanceNotIdempotent, func(t *testing.T, e *env) {
			if a, b := e.mustCall(t, newInst("o-n", "1")).InstanceID, e.mustCall(t, newInst("o-n", "1")).InstanceID; a == b {
				t.Errorf("same instance %s twice", a)
			}
		}},
		{NCReleaseNotIdempotent, func(t *testing.T, e *env) {
			id := e.mustCall(t, newInst("o-r", "1")).InstanceID
			e.mustCall(t, release(id))
			if code := e.codeOf(t, release(id)); code != sellerapi.CodeInternalError {
				t.Errorf("repeated release = %q", code)
			}
		}},
		{NCAsyncNeverReady, func(t *testing.T, e *env) {
			id := e.mustCall(t, newInst("o-a", "1")).InstanceID
			e.clock.Advance(30 * time.Second) // far past the async delay, within the signature window
			if code := e.codeOf(t, query(id)); code != sellerapi.CodePending {
				t.Errorf("query 30 s later = %q", code)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			e := newEnv(t)
			e.behave(t, `{"nonConformance":["`+tt.mode+`"]}`)
			tt.check(t, e)
		})
	}
}
