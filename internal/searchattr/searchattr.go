// Package searchattr holds the custom search attributes the order and account workflows
// upsert so that operations staff can find them in the Temporal UI (order-states.md). It is
// apart from the domain vocabulary (internal/order) because it needs the Temporal SDK, which
// the vocabulary and the pure machines never import.
package searchattr

import (
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
)

// The keys. They stay within the SQL visibility
// limits: 8 of 10 Keyword, 1 of 3 Datetime, 1 of 3 Int, 2 of 3 Bool.
var (
	OrderStatus    = temporal.NewSearchAttributeKeyKeyword("OrderStatus")
	SellerID       = temporal.NewSearchAttributeKeyKeyword("SellerId")
	CustomerID     = temporal.NewSearchAttributeKeyKeyword("CustomerId")
	ProductID      = temporal.NewSearchAttributeKeyKeyword("ProductId")
	ProductType    = temporal.NewSearchAttributeKeyKeyword("ProductType")
	WaitingOn      = temporal.NewSearchAttributeKeyKeyword("WaitingOn")
	ArrearsState   = temporal.NewSearchAttributeKeyKeyword("ArrearsState")
	NextDeadline   = temporal.NewSearchAttributeKeyTime("NextDeadline")
	AppealTier     = temporal.NewSearchAttributeKeyInt64("AppealTier")
	AppealOpen     = temporal.NewSearchAttributeKeyBool("AppealOpen")
	NeedsAttention = temporal.NewSearchAttributeKeyBool("NeedsAttention")
	// AttentionCause is the code of the latest standing cause of an order needing ops
	// (lifecycle.CauseCodes); unset when none. Orders placed before 2026-12's ops rules
	// never set it.
	AttentionCause = temporal.NewSearchAttributeKeyKeyword("AttentionCause")
)

// All lists every custom search attribute with its type, for registering them
// on a namespace (dev stack, tests, deploy scripts).
func All() map[string]enumspb.IndexedValueType {
	return map[string]enumspb.IndexedValueType{
		"OrderStatus":    enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		"SellerId":       enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		"CustomerId":     enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		"ProductId":      enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		"ProductType":    enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		"WaitingOn":      enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		"ArrearsState":   enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		"NextDeadline":   enumspb.INDEXED_VALUE_TYPE_DATETIME,
		"AppealTier":     enumspb.INDEXED_VALUE_TYPE_INT,
		"AppealOpen":     enumspb.INDEXED_VALUE_TYPE_BOOL,
		"NeedsAttention": enumspb.INDEXED_VALUE_TYPE_BOOL,
		"AttentionCause": enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	}
}
