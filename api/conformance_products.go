package api

import (
	"context"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/cloudmarket/orders/internal/order"
	"github.com/cloudmarket/orders/internal/sellerapi"
	"github.com/cloudmarket/orders/internal/sellercheck"
)

// productCalls adds to calls the optional calls the seller's products need
// (sellercheck.CallsForProducts): upgradeInstance and changeInstanceCheck for instance
// products with a period or usage, orderNotify for products that ask, the licence-code
// calls for licence-code products. A conformance run then checks what the seller's
// products will really be sent.
func (s *server) productCalls(ctx context.Context, sellerID string, calls []sellerapi.Activity) ([]sellerapi.Activity, error) {
	rows, err := s.db.Query(ctx, `SELECT type, billing_mode, notify_orders, license_code FROM products WHERE seller_id = $1`, sellerID)
	if err != nil {
		return nil, dbFailure("read the products of seller "+sellerID, err)
	}
	products, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (sellercheck.Product, error) {
		var typ, mode string
		var p sellercheck.Product
		err := r.Scan(&typ, &mode, &p.NotifyOrders, &p.LicenseCode)
		t := order.ProductType(typ)
		p.BillingMode = mode
		p.Changes = (t == order.TypeSaaS || t == order.TypeLicense) && !p.LicenseCode && mode != string(order.BillingOneTime)
		return p, err
	})
	if err != nil {
		return nil, dbFailure("read the products of seller "+sellerID, err)
	}
	need, err := sellercheck.CallsForProducts(products)
	if err != nil {
		return calls, nil // a billing mode the checker does not know: check what was asked
	}
	calls = append(slices.Clone(calls), need...)
	slices.Sort(calls)
	return slices.Compact(calls), nil
}
