package api

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/labstack/echo/v4"

	"github.com/cloudmarket/orders/internal/config"
	"github.com/cloudmarket/orders/internal/order"
	"github.com/cloudmarket/orders/internal/strictjson"
)

//go:embed openapi.yaml
var openAPIYAML []byte

// roleSellerAPI is the x-roles value of the seller open API: callers authenticate with
// their seller's signature, not a bearer token.
const roleSellerAPI = "seller-api"

// contract is the OpenAPI document the API serves, and everything derived from it once at
// start: the routes, who may call each, and the validator of every request. Handlers never
// repeat a rule the document states (lengths, patterns, enums, ranges, required fields);
// they check only what needs state (the catalogue, the clock, the order).
type contract struct {
	doc  *openapi3.T
	json []byte // the document as served at /openapi.json
	ops  []*operation
	byID map[string]*operation
}

// operation is one operation of the document, ready to be routed and enforced.
type operation struct {
	ID       string
	Method   string
	Path     string // as in the document: /v1/orders/{orderId}
	EchoPath string // as Echo routes it: /v1/orders/:orderId
	// Roles are the token roles allowed (x-roles); empty for public operations, and
	// [seller-api] for the seller open API.
	Roles []config.Role
	// Actors are the user kinds a web token may act for here (x-actors).
	Actors []order.ActorKind
	// Idempotent operations declare the Idempotency-Key header.
	Idempotent bool
	// MaxBody is the operation's own body limit (x-max-body-bytes), above the API's
	// default for an operation that takes large batches; 0 for the default.
	MaxBody int64

	route   *routers.Route
	query   map[string]bool // declared query parameters
	hasBody bool
}

// SellerAPI reports whether the operation is part of the seller open API.
func (o *operation) SellerAPI() bool {
	return len(o.Roles) == 1 && o.Roles[0] == roleSellerAPI
}

var pathParam = regexp.MustCompile(`\{([A-Za-z0-9_]+)\}`)

// loadContract parses and validates the embedded document.
func loadContract() (*contract, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(openAPIYAML)
	if err != nil {
		return nil, fmt.Errorf("load openapi.yaml: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("openapi.yaml is not a valid OpenAPI document: %w", err)
	}
	served, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("encode openapi document: %w", err)
	}
	c := &contract{doc: doc, json: served, byID: map[string]*operation{}}
	paths := doc.Paths.InMatchingOrder()
	sort.Strings(paths)
	for _, path := range paths {
		item := doc.Paths.Value(path)
		for method, op := range item.Operations() {
			o, err := newOperation(doc, path, item, method, op)
			if err != nil {
				return nil, err
			}
			if _, dup := c.byID[o.ID]; dup {
				return nil, fmt.Errorf("operationId %s is used twice", o.ID)
			}
			c.byID[o.ID] = o
			c.ops = append(c.ops, o)
		}
	}
	sort.SliceStable(c.ops, func(i, j int) bool {
		if c.ops[i].Path != c.ops[j].Path {
			return c.ops[i].Path < c.ops[j].Path
		}
		return c.ops[i].Method < c.ops[j].Method
	})
	return c, nil
}

func newOperation(doc *openapi3.T, path string, item *openapi3.PathItem, method string, op *openapi3.Operation) (*operation, error) {
	if op.OperationID == "" {
		return nil, fmt.Errorf("%s %s has no operationId", method, path)
	}
	o := &operation{
		ID: op.OperationID, Method: method, Path: path,
		EchoPath: pathParam.ReplaceAllString(path, ":$1"),
		route:    &routers.Route{Spec: doc, Path: path, PathItem: item, Method: method, Operation: op},
		query:    map[string]bool{},
		hasBody:  op.RequestBody != nil,
	}
	roles, err := stringsExtension(op, "x-roles")
	if err != nil {
		return nil, err
	}
	if raw, ok := op.Extensions["x-max-body-bytes"]; ok {
		n, ok := raw.(float64)
		if !ok || n < 1024 || n > 4<<20 || n != float64(int64(n)) {
			return nil, fmt.Errorf("%s: x-max-body-bytes must be a whole number of bytes, 1 KiB-4 MiB", o.ID)
		}
		o.MaxBody = int64(n)
	}
	for _, r := range roles {
		switch config.Role(r) {
		case config.RoleWeb, config.RoleOps, config.RoleBilling, roleSellerAPI:
			o.Roles = append(o.Roles, config.Role(r))
		default:
			return nil, fmt.Errorf("%s: unknown role %q in x-roles", o.ID, r)
		}
	}
	public := op.Security != nil && len(*op.Security) == 0
	if public != (len(o.Roles) == 0) {
		return nil, fmt.Errorf("%s: x-roles must be empty exactly when security is []", o.ID)
	}
	actors, err := stringsExtension(op, "x-actors")
	if err != nil {
		return nil, err
	}
	for _, a := range actors {
		k := order.ActorKind(a)
		if k != order.ActorBuyer && k != order.ActorSeller {
			return nil, fmt.Errorf("%s: x-actors may name buyer and seller only, not %q", o.ID, a)
		}
		o.Actors = append(o.Actors, k)
	}
	if len(o.Actors) > 0 && !slices.Contains(o.Roles, config.RoleWeb) {
		return nil, fmt.Errorf("%s: x-actors without the web role", o.ID)
	}
	if slices.Contains(o.Roles, config.RoleWeb) && len(o.Actors) == 0 {
		return nil, fmt.Errorf("%s: the web role needs x-actors", o.ID)
	}
	for _, p := range op.Parameters {
		switch p.Value.In {
		case openapi3.ParameterInQuery:
			o.query[p.Value.Name] = true
		case openapi3.ParameterInHeader:
			if p.Value.Name == headerIdempotencyKey {
				o.Idempotent = true
			}
		}
	}
	return o, nil
}

func stringsExtension(op *openapi3.Operation, name string) ([]string, error) {
	raw, ok := op.Extensions[name]
	if !ok {
		return nil, nil
	}
	list, ok := raw.([]any)
	if !ok {
		return nil, fmt.Errorf("%s: %s must be a list of strings", op.OperationID, name)
	}
	out := make([]string, 0, len(list))
	for _, v := range list {
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("%s: %s must be a list of strings", op.OperationID, name)
		}
		out = append(out, s)
	}
	return out, nil
}

// validationOptions: authentication is ours (bearer tokens and seller signatures, before
// the body is read); the document's security section documents it.
var validationOptions = &openapi3filter.Options{
	AuthenticationFunc: openapi3filter.NoopAuthenticationFunc,
}

// ctxBody is where conform leaves the checked body for the handler.
const ctxBody = "api.body"

// conform enforces the document on a request before its handler runs: declared query
// parameters only, each given once; a body only where the operation takes one, of at most
// maxBody bytes, application/json, well-formed and shallow (strictjson.Check); then every
// parameter, header and the body against their schemas (kin-openapi's request validator).
// The checked body is left for the handler's bind.
func (s *server) conform(op *operation) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			body, p := s.readRequestBody(c, op)
			if p != nil {
				return p
			}
			params := make(map[string]string, len(c.ParamNames()))
			for i, name := range c.ParamNames() {
				params[name] = c.ParamValues()[i]
			}
			if p := s.contract.check(c.Request().Context(), op, c.Request(), params, body); p != nil {
				return p
			}
			c.Set(ctxBody, body)
			return next(c)
		}
	}
}

// readRequestBody reads and pre-checks the body of op's request; nil when there is none.
func (s *server) readRequestBody(c echo.Context, op *operation) ([]byte, *Problem) {
	req := c.Request()
	if req.ContentLength == 0 && (req.Body == nil || req.Body == http.NoBody) {
		return nil, nil
	}
	body, p := s.readBody(c)
	if p != nil {
		return nil, p
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, nil // an empty body is no body, whatever its Content-Type
	}
	if !op.hasBody {
		return nil, newProblem(http.StatusBadRequest, CodeInvalidJSON, "this operation takes no body")
	}
	if p := checkJSONContentType(req.Header.Get(echo.HeaderContentType)); p != nil {
		return nil, p
	}
	if e := strictjson.Check(body, strictjson.MaxDepth); e != nil {
		return nil, jsonProblem(e)
	}
	return body, nil
}

// check validates a request against op's part of the document. body is the request's body
// (nil for none), already read; params are the path parameters.
func (a *contract) check(ctx context.Context, op *operation, req *http.Request, params map[string]string, body []byte) *Problem {
	query := req.URL.Query()
	keys := make([]string, 0, len(query))
	for k := range query {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !op.query[k] {
			return invalidField(safeFieldName(k), "unknown query parameter")
		}
		if len(query[k]) != 1 {
			return invalidField(safeFieldName(k), "query parameter given more than once")
		}
	}
	// The validator reads the body itself: give it a copy (and a request it may change).
	vr := req.Clone(ctx)
	if body == nil {
		vr.Body, vr.ContentLength = http.NoBody, 0
		vr.Header.Del(echo.HeaderContentType)
	} else {
		vr.Body, vr.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
		vr.Header.Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
	}
	err := openapi3filter.ValidateRequest(ctx, &openapi3filter.RequestValidationInput{
		Request:     vr,
		PathParams:  params,
		QueryParams: query,
		Route:       op.route,
		Options:     validationOptions,
	})
	if err == nil {
		return nil
	}
	return contractProblem(err)
}

// contractProblem words a validator refusal as a 400 naming the field, from the error's
// structure (never from its message, which may quote the value).
func contractProblem(err error) *Problem {
	var re *openapi3filter.RequestError
	if !errors.As(err, &re) {
		p := newProblem(http.StatusBadRequest, CodeInvalidField, "the request does not match the contract")
		p.cause = err
		return p
	}
	field, reason := "", "is invalid"
	if re.Parameter != nil {
		field = re.Parameter.Name
	}
	var se *openapi3.SchemaError
	var pe *openapi3filter.ParseError
	switch {
	case errors.As(re.Err, &se):
		if re.RequestBody != nil {
			field = pointerField(se.JSONPointer())
		}
		reason = se.Reason
		if se.SchemaField == "properties" && strings.HasSuffix(reason, "is unsupported") {
			// The error points at the object; name the member instead.
			if k := unknownMember(se); k != "" {
				field, reason = joinField(field, k), "unknown field"
			}
		}
		if se.SchemaField == "required" {
			reason = "is required"
		}
	case errors.As(re.Err, &pe):
		reason = "is not of the declared type"
	case re.Err == nil && re.Reason != "":
		reason = re.Reason
	}
	if field == "" {
		p := newProblem(http.StatusBadRequest, CodeInvalidJSON, "the body "+reason)
		p.cause = err
		return p
	}
	p := invalidField(field, "%s: %s", field, reason)
	p.cause = err
	return p
}

// unknownMember is the first member (in sorted order) of the object a SchemaError is about
// that its schema does not declare.
func unknownMember(se *openapi3.SchemaError) string {
	obj, ok := se.Value.(map[string]any)
	if !ok || se.Schema == nil {
		return ""
	}
	var unknown []string
	for k := range obj {
		if _, declared := se.Schema.Properties[k]; !declared {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	if len(unknown) == 0 {
		return ""
	}
	return safeFieldName(unknown[0])
}

// pointerField renders a JSON Pointer's tokens in the API's field notation.
func pointerField(tokens []string) string {
	var b strings.Builder
	for _, t := range tokens {
		if _, err := strconv.Atoi(t); err == nil {
			b.WriteString("[" + t + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(safeFieldName(t))
	}
	return b.String()
}

func joinField(parent, name string) string {
	if parent == "" {
		return name
	}
	return parent + "." + name
}

// safeFieldName bounds a caller-chosen name before it is repeated in a problem.
func safeFieldName(s string) string {
	const maxLen = 64
	var b strings.Builder
	for i, r := range s {
		if i >= maxLen {
			b.WriteString("…")
			break
		}
		if r < 0x20 || r == 0x7f {
			r = '?'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// jsonProblem maps a strictjson refusal: malformed JSON is invalid_json, JSON of the wrong
// shape invalid_field; both name the member when there is one.
func jsonProblem(e *strictjson.Error) *Problem {
	if e.Syntax {
		p := newProblem(http.StatusBadRequest, CodeInvalidJSON, e.Error())
		p.Field = e.Field
		return p
	}
	if e.Field == "" {
		return newProblem(http.StatusBadRequest, CodeInvalidJSON, e.Reason)
	}
	return invalidField(e.Field, "%s", e.Error())
}
