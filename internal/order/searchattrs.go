package order

import (
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
)

// Search attribute keys the order and account workflows upsert so that operations staff can
// find orders in the Temporal UI (order-states.md). They stay within the SQL visibility
// limits: 7 of 10 Keyword, 1 of 3 Datetime, 1 of 3 Int, 2 of 3 Bool.
var (
	SAOrderStatus    = temporal.NewSearchAttributeKeyKeyword("OrderStatus")
	SASellerID       = temporal.NewSearchAttributeKeyKeyword("SellerId")
	SACustomerID     = temporal.NewSearchAttributeKeyKeyword("CustomerId")
	SAProductID      = temporal.NewSearchAttributeKeyKeyword("ProductId")
	SAProductType    = temporal.NewSearchAttributeKeyKeyword("ProductType")
	SAWaitingOn      = temporal.NewSearchAttributeKeyKeyword("WaitingOn")
	SAArrearsState   = temporal.NewSearchAttributeKeyKeyword("ArrearsState")
	SANextDeadline   = temporal.NewSearchAttributeKeyTime("NextDeadline")
	SAAppealTier     = temporal.NewSearchAttributeKeyInt64("AppealTier")
	SAAppealOpen     = temporal.NewSearchAttributeKeyBool("AppealOpen")
	SANeedsAttention = temporal.NewSearchAttributeKeyBool("NeedsAttention")
)

// SearchAttributes lists every custom search attribute with its type, for registering them
// on a namespace (dev stack, tests, deploy scripts).
func SearchAttributes() map[string]enumspb.IndexedValueType {
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
	}
}
