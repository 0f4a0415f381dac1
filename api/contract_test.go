package api

import (
	"bytes"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// oasSchemaFile is the OpenAPI Initiative's JSON Schema of OpenAPI 3.0 documents, from
// Debian's openapi-specification package (make test installs it where it is missing, as it
// does postgresql-15).
const oasSchemaFile = "/usr/share/openapi-specification/schemas/v3.0/schema.json"

// TestContractIsAValidOpenAPIDocument validates the served document against the OpenAPI
// 3.0 schema itself (not only kin-openapi's reading of it).
func TestContractIsAValidOpenAPIDocument(t *testing.T) {
	raw, err := os.ReadFile(oasSchemaFile)
	if err != nil {
		t.Fatalf("the OpenAPI 3.0 schema is missing (%v): apt-get install openapi-specification, or run make test, which does", err)
	}
	schemaDoc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("oas30.json", schemaDoc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("oas30.json")
	if err != nil {
		t.Fatal(err)
	}
	ct, err := loadContract()
	if err != nil {
		t.Fatal(err)
	}
	served, err := jsonschema.UnmarshalJSON(bytes.NewReader(ct.json))
	if err != nil {
		t.Fatal(err)
	}
	if err := sch.Validate(served); err != nil {
		t.Fatalf("the served document is not a valid OpenAPI 3.0 document: %v", err)
	}
	// The check has teeth: a document with a misspelt operation member fails it.
	broken, _ := jsonschema.UnmarshalJSON(strings.NewReader(strings.Replace(string(ct.json), `"operationId"`, `"operationID"`, 1)))
	if sch.Validate(broken) == nil {
		t.Fatal("the OpenAPI schema accepted a broken document")
	}
}

// TestContractCompleteness: every operation says who may call it, documents the errors it
// can answer with their codes, and the headers it uses.
func TestContractCompleteness(t *testing.T) {
	ct, err := loadContract()
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range ct.ops {
		o := op.route.Operation
		public := len(op.Roles) == 0
		want := []string{"500"}
		if !public {
			want = append(want, "400", "401", "429", "503")
		}
		if !public && !op.SellerAPI() {
			want = append(want, "403")
		}
		if op.hasBody {
			want = append(want, "408", "413", "415")
		}
		for _, status := range want {
			if public && status == "500" {
				continue
			}
			if o.Responses.Value(status) == nil {
				t.Errorf("%s does not document %s", op.ID, status)
			}
		}
		for status, ref := range o.Responses.Map() {
			r := ref.Value
			if r.Headers["X-Request-Id"] == nil {
				t.Errorf("%s %s does not document X-Request-Id", op.ID, status)
			}
			if (status == "429" || status == "503") && r.Headers["Retry-After"] == nil {
				t.Errorf("%s %s does not document Retry-After", op.ID, status)
			}
			if strings.HasPrefix(status, "4") || strings.HasPrefix(status, "5") {
				mt := r.Content.Get("application/problem+json")
				if mt == nil || len(problemCodes(mt.Schema.Value)) == 0 {
					t.Errorf("%s %s does not name its problem codes", op.ID, status)
				}
			}
		}
		isAction := op.Method == http.MethodPost && strings.HasPrefix(op.Path, "/v1/orders/{orderId}/")
		if isAction && !op.Idempotent {
			t.Errorf("%s is an action without Idempotency-Key", op.ID)
		}
	}
}

// problemCodes are the codes a problem response's schema allows (allOf Problem + enum).
func problemCodes(s *openapi3.Schema) []string {
	var out []string
	for _, part := range s.AllOf {
		if p := part.Value.Properties["code"]; p != nil {
			for _, v := range p.Value.Enum {
				out = append(out, v.(string))
			}
		}
	}
	slices.Sort(out)
	return out
}
