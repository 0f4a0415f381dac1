package api

import (
	"go/ast"
	"go/parser"
	"go/token"
	"slices"
	"strconv"
	"testing"

	"github.com/cloudmarket/orders/events"
)

// TestEventTypesAreTheAuditSteps: the EventType enum subscribers filter on is exactly
// cloudmarket.order.<step> for every order.StepName constant (read from the vocabulary's
// source, since Go cannot list a type's constants), plus the first workflow's own step.
func TestEventTypesAreTheAuditSteps(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "../internal/order/audit.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{events.TypeOf("seller_call_succeeded")} // OrderV1 only (workflows/orderv1)
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, spec := range g.Specs {
			vs := spec.(*ast.ValueSpec)
			if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "StepName" {
				continue
			}
			for _, v := range vs.Values {
				if lit, ok := v.(*ast.BasicLit); ok {
					s, _ := strconv.Unquote(lit.Value)
					want = append(want, events.TypeOf(s))
				}
			}
		}
	}
	ct, err := loadContract()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, v := range ct.doc.Components.Schemas["EventType"].Value.Enum {
		got = append(got, v.(string))
	}
	if len(want) < 20 || !sameSet(got, want) {
		slices.Sort(got)
		slices.Sort(want)
		t.Errorf("EventType enum = %v\nwant %v", got, want)
	}
}
