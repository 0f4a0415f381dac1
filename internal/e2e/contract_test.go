package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// The contract as the running API serves it (GET /openapi.json), and a router over it:
// every answer the integration tests receive through do is checked against the operation
// it answers (its status is documented, its body matches the schema of that status,
// problem codes included), so the document is proven by real responses, not by reading.
var contract struct {
	router routers.Router
	mu     sync.Mutex
	// checked counts responses validated per operation and status, for the coverage log.
	checked map[string]int
}

func loadServedContract(ctx context.Context) error {
	res, err := http.Get(stack.API.URL + "/openapi.json")
	if err != nil {
		return fmt.Errorf("GET /openapi.json: %w", err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return err
	}
	doc, err := openapi3.NewLoader().LoadFromData(raw)
	if err != nil {
		return fmt.Errorf("load the served contract: %w", err)
	}
	if err := doc.Validate(ctx); err != nil {
		return fmt.Errorf("the served contract: %w", err)
	}
	r, err := gorillamux.NewRouter(doc)
	if err != nil {
		return err
	}
	contract.router = r
	contract.checked = map[string]int{}
	return nil
}

// checkAgainstContract validates one answer. Requests to no documented route (tests of the
// router's own 404 and 405) have no operation to check against.
func checkAgainstContract(t testing.TB, req *http.Request, r reply) {
	t.Helper()
	if contract.router == nil {
		return
	}
	// The router matches on the request as the client addressed it, path only.
	match := req.Clone(context.Background())
	match.URL.Scheme, match.URL.Host, match.Host = "", "", ""
	route, params, err := contract.router.FindRoute(match)
	if err != nil {
		return
	}
	in := &openapi3filter.RequestValidationInput{
		Request: match, PathParams: params, Route: route,
		Options: &openapi3filter.Options{IncludeResponseStatus: true, AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
	}
	err = openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 r.status,
		Header:                 r.header,
		Body:                   io.NopCloser(bytes.NewReader(r.body)),
		Options:                in.Options,
	})
	if err != nil {
		t.Errorf("%s %s answered %d, which the contract does not allow: %v\nbody: %.400s",
			req.Method, req.URL.Path, r.status, err, strings.TrimSpace(string(r.body)))
	}
	contract.mu.Lock()
	contract.checked[fmt.Sprintf("%s %d", route.Operation.OperationID, r.status)]++
	contract.mu.Unlock()
}

// recordingTB captures what a check reports instead of failing the test.
type recordingTB struct {
	testing.TB
	errors []string
}

func (r *recordingTB) Helper() {}
func (r *recordingTB) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

// TestContractChecksHaveTeeth: the response check refuses answers the contract does not
// allow, so its silence elsewhere means something.
func TestContractChecksHaveTeeth(t *testing.T) {
	req, _ := http.NewRequest("GET", stack.API.URL+"/v1/orders/X-1", nil)
	for _, bad := range []reply{
		{status: 200, body: []byte(`{"orderId":"X-1"}`), header: http.Header{"Content-Type": {"application/json"}}},
		{status: 418, body: []byte(`{}`), header: http.Header{"Content-Type": {"application/json"}}},
		{status: 404, body: []byte(`{"type":"t","title":"t","status":404,"detail":"d","code":"forbidden","instance":"/"}`),
			header: http.Header{"Content-Type": {"application/problem+json"}}},
	} {
		rec := &recordingTB{TB: t}
		checkAgainstContract(rec, req, bad)
		if len(rec.errors) == 0 {
			t.Errorf("the contract check let %d %s through", bad.status, bad.body)
		}
	}
	good := do(t, ops("GET", "/v1/orders/NO-SUCH-ORDER-TEETH", nil))
	if good.status != http.StatusNotFound {
		t.Fatalf("status %d", good.status)
	}
	contract.mu.Lock()
	defer contract.mu.Unlock()
	if contract.checked["getOrder 404"] == 0 {
		t.Error("responses are not being checked")
	}
}
