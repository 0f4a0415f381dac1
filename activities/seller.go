package activities

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/cloudmarket/orders/activities/sellerapi"
	"github.com/cloudmarket/orders/internal/secrets"
	"github.com/cloudmarket/orders/internal/sellerkeys"
)

// Seller holds the activities that call a seller's production endpoint. Each looks the
// seller's endpoint and access key up by seller ID at call time, so the key never travels
// in workflow inputs or history, and a key fixed by ops is used by the next retry.
type Seller struct {
	DB      *pgxpool.Pool
	Keys    *secrets.Keyring // opens the sealed access keys
	Client  *sellerapi.Client
	Metrics *Metrics
	Logger  *slog.Logger
	// TestFlag, when set, marks every call as a debug call (testFlag "1").
	TestFlag bool
}

// SellerCall identifies the order a seller call is about.
type SellerCall struct {
	OrderID     string `json:"orderId"`
	OrderLineID string `json:"orderLineId"`
	SellerID    string `json:"sellerId"`
	ProductID   string `json:"productId"`
	InstanceID  string `json:"instanceId,omitempty"`
}

// Instance is what newInstance and queryInstance tell the workflow. It deliberately leaves
// out the instance's credentials (userName, password): they must not enter history.
type Instance struct {
	InstanceID  string `json:"instanceId"`
	Ready       bool   `json:"ready"`
	FrontEndURL string `json:"frontEndUrl,omitempty"`
}

func (s *Seller) lookup(ctx context.Context, sellerID string) (sellerkeys.Seller, error) {
	r, err := sellerkeys.Lookup(ctx, s.DB, s.Keys, sellerID)
	if errors.Is(err, sellerkeys.ErrNotFound) {
		return r, nonRetryable(ErrTypeSellerNotFound, err)
	}
	return r, err
}

func (s *Seller) testFlag() string {
	if s.TestFlag {
		return sellerapi.TestFlagDebug
	}
	return ""
}

// call sends one request, records the attempt in seller_calls and in the metrics, and turns
// the outcome into what Temporal needs: nil, or an application error whose type is the
// result class and whose retryability is the protocol's.
func (s *Seller) call(ctx context.Context, c SellerCall, act sellerapi.Activity, businessID string, req any) (*sellerapi.CallResult, error) {
	row, err := s.lookup(ctx, c.SellerID)
	if err != nil {
		return nil, err
	}
	res, callErr := s.Client.Call(ctx, row.Endpoint, row.AccessKey, row.VerifyBodySign, req)
	attempt := int32(1)
	if activity.IsActivity(ctx) {
		attempt = activity.GetInfo(ctx).Attempt
	}
	code := res.ResultCode
	errText := ""
	var ce *sellerapi.CallError
	if callErr != nil {
		errText = callErr.Error()
		if errors.As(callErr, &ce) && ce.Class == sellerapi.ClassTransport {
			code = ""
		}
	}
	label := sellerapi.ResultLabel(code)
	if s.Metrics != nil {
		s.Metrics.SellerCalls.WithLabelValues(string(act), label).Observe(res.Latency.Seconds())
	}
	// Recorded even when the attempt's context has run out: a timed-out call is exactly
	// what product health must see.
	recCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, err := s.DB.Exec(recCtx, `INSERT INTO seller_calls (order_id, seller_id, product_id, activity, attempt,
		business_id, http_status, result_code, latency_ms, error) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)`,
		c.OrderID, c.SellerID, c.ProductID, string(act), attempt, businessID, res.HTTPStatus, code,
		res.Latency.Milliseconds(), errText); err != nil {
		// The call itself happened; losing its record must not make us call the seller
		// again for nothing, so it is logged, not returned.
		s.logger().Error("record seller call", "order_id", c.OrderID, "seller_id", c.SellerID, "activity", act, "error", err)
	}
	if callErr != nil {
		if ce != nil {
			return res, temporal.NewApplicationErrorWithOptions(ce.Error(), ce.Class.ErrorType(),
				temporal.ApplicationErrorOptions{NonRetryable: !ce.Class.Retryable()})
		}
		return res, fmt.Errorf("%s for order %s: %w", act, c.OrderID, callErr)
	}
	return res, nil
}

func (s *Seller) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.Default()
	}
	return s.Logger
}

// NewInstance asks the seller to produce the order's instance. Every attempt carries a new
// businessId; the seller's idempotency on orderId+orderLineId makes a repeat return the
// same instance. Ready is false when the seller answered 000004 (poll QueryInstance).
func (s *Seller) NewInstance(ctx context.Context, c SellerCall) (Instance, error) {
	businessID := uuid.NewString()
	res, err := s.call(ctx, c, sellerapi.ActivityNewInstance, businessID, sellerapi.NewInstanceRequest{
		Activity: sellerapi.ActivityNewInstance, OrderID: c.OrderID, OrderLineID: c.OrderLineID,
		BusinessID: businessID, TestFlag: s.testFlag(),
	})
	if err != nil {
		return Instance{}, err
	}
	if res.Response.InstanceID == "" {
		// Success without an instance breaks the protocol; retrying may get a proper answer.
		return Instance{}, temporal.NewApplicationError(
			fmt.Sprintf("newInstance for order %s: seller answered %s without instanceId", c.OrderID, res.ResultCode),
			sellerapi.ClassUnknownResult.ErrorType())
	}
	return Instance{InstanceID: res.Response.InstanceID, Ready: res.ResultCode == sellerapi.CodeSuccess}, nil
}

// QueryInstance asks whether an asynchronously produced instance is ready. While the seller
// answers 000004 it fails with a retryable SellerPending error, so the workflow polls with
// a retry policy (nothing is added to history per poll).
func (s *Seller) QueryInstance(ctx context.Context, c SellerCall) (Instance, error) {
	res, err := s.call(ctx, c, sellerapi.ActivityQueryInstance, "", sellerapi.QueryInstanceRequest{
		Activity: sellerapi.ActivityQueryInstance, InstanceID: c.InstanceID, TestFlag: s.testFlag(),
	})
	if err != nil {
		return Instance{}, err
	}
	if res.ResultCode == sellerapi.CodePending {
		return Instance{}, temporal.NewApplicationError(
			fmt.Sprintf("instance %s of order %s is still being produced", c.InstanceID, c.OrderID),
			sellerapi.ClassPending.ErrorType())
	}
	for _, info := range res.Response.Info {
		if info.InstanceID == c.InstanceID {
			return Instance{InstanceID: info.InstanceID, Ready: true, FrontEndURL: info.AppInfo.FrontEndURL}, nil
		}
	}
	return Instance{}, temporal.NewApplicationError(
		fmt.Sprintf("queryInstance for order %s: no info for instance %s", c.OrderID, c.InstanceID),
		sellerapi.ClassPending.ErrorType())
}

// UpdateInstanceStatus freezes or unfreezes the order's instance; a repeat is a no-op at the
// seller.
func (s *Seller) UpdateInstanceStatus(ctx context.Context, c SellerCall, status sellerapi.InstanceStatus) error {
	_, err := s.call(ctx, c, sellerapi.ActivityUpdateInstanceStatus, "", sellerapi.UpdateInstanceStatusRequest{
		Activity: sellerapi.ActivityUpdateInstanceStatus, InstanceID: c.InstanceID, Status: status, TestFlag: s.testFlag(),
	})
	return err
}

// ReleaseInstance releases the order's instance. A seller that no longer knows the
// instance (000003) has nothing left to release: that counts as done.
func (s *Seller) ReleaseInstance(ctx context.Context, c SellerCall) error {
	_, err := s.call(ctx, c, sellerapi.ActivityReleaseInstance, "", sellerapi.ReleaseInstanceRequest{
		Activity: sellerapi.ActivityReleaseInstance, InstanceID: c.InstanceID, TestFlag: s.testFlag(),
	})
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.Type() == sellerapi.ClassInstanceNotFound.ErrorType() {
		return nil
	}
	return err
}
