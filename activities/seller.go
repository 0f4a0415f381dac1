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

	"github.com/cloudmarket/orders/internal/licenses"
	"github.com/cloudmarket/orders/internal/order"
	"github.com/cloudmarket/orders/internal/secrets"
	"github.com/cloudmarket/orders/internal/sellerapi"
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
	// Gates pace the calls to each seller (nil: no limit).
	Gates *SellerGates
}

// SellerCall identifies the order a seller call is about.
type SellerCall struct {
	OrderID     string `json:"orderId"`
	OrderLineID string `json:"orderLineId"`
	SellerID    string `json:"sellerId"`
	ProductID   string `json:"productId"`
	InstanceID  string `json:"instanceId,omitempty"`
	// MaxAttempts is the seller's retry window counted in calls that reached it (or
	// tried to): the activity counts them in its heartbeat details and gives up, failing
	// for good, when they are used up. Time in which the seller was not called (our
	// worker or database down, the seller missing from the catalogue) costs nothing. 0
	// (the first order workflow) leaves the window to the activity's timeout.
	MaxAttempts int `json:"maxAttempts,omitempty"`
	// KeepLicense: a licence product; a licence in the seller's answer is stored sealed
	// and only its reference returned.
	KeepLicense bool `json:"keepLicense,omitempty"`
	// About names another order the call is about: the renewal order of a refreshInstance,
	// the unsubscribe order of a releaseInstance (seller-protocol.md).
	About *OtherOrder `json:"about,omitempty"`
	// ExpireTime is a refreshInstance's new expiry (real time, not the demo's scaled one).
	ExpireTime *time.Time `json:"expireTime,omitempty"`
	// Scene is why a refreshInstance is sent; empty means RENEWAL, so workflows written
	// before the other scenes existed keep sending what they sent.
	Scene sellerapi.Scene `json:"scene,omitempty"`
	// NewProductID is the product a refreshInstance changes the instance to (RENEWAL_CHANGE,
	// or a new period type); empty leaves productId out of the request: no change.
	NewProductID string `json:"newProductId,omitempty"`

	// redact is a secret the request carries (a licence code, read inside the activity,
	// never in its input) that the seller's answers must not carry into errors or logs.
	redact string
}

// OtherOrder is a billing order (renewal, unsubscription) a seller call names.
type OtherOrder struct {
	OrderID     string `json:"orderId"`
	OrderLineID string `json:"orderLineId"`
}

// Instance is what newInstance and queryInstance tell the workflow. It deliberately leaves
// out the instance's credentials (userName, password) and a licence's text: they must not
// enter history.
type Instance struct {
	InstanceID  string            `json:"instanceId"`
	Ready       bool              `json:"ready"`
	FrontEndURL string            `json:"frontEndUrl,omitempty"`
	License     *order.LicenseRef `json:"license,omitempty"`
}

// ourFaultWait is how long an attempt keeps trying our own dependencies (PostgreSQL, the
// catalogue, the keys) before it fails; such failures never count as seller attempts.
const ourFaultWait = 15 * time.Second

// lookup reads the seller, retrying our own failures for a while within the attempt.
// A seller missing from the catalogue is our fault too (ops fix the catalogue): with
// attempt counting it is retried like any of our failures, never used against the seller.
func (s *Seller) lookup(ctx context.Context, c SellerCall) (sellerkeys.Seller, error) {
	deadline := time.Now().Add(ourFaultWait)
	for wait := 200 * time.Millisecond; ; wait = min(2*wait, 5*time.Second) {
		r, err := sellerkeys.Lookup(ctx, s.DB, s.Keys, c.SellerID)
		if err == nil {
			return r, nil
		}
		if errors.Is(err, sellerkeys.ErrNotFound) && c.MaxAttempts == 0 {
			return r, nonRetryable(ErrTypeSellerNotFound, err)
		}
		if time.Now().Add(wait).After(deadline) || ctx.Err() != nil {
			typ := ErrTypeOurFault
			if errors.Is(err, sellerkeys.ErrNotFound) {
				typ = ErrTypeSellerNotFound
			}
			return r, temporal.NewApplicationError(fmt.Sprintf("before calling the seller: %v", err), typ)
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
}

// spentAttempts reads how many seller attempts of this call failed so far, from the
// activity's heartbeat details, which outlive a failed attempt. It fails for good when the
// window is spent: the error's type is the class of the last failure.
func spentAttempts(ctx context.Context, c SellerCall) (attemptLog, error) {
	var prev attemptLog
	if c.MaxAttempts == 0 || !activity.IsActivity(ctx) {
		return prev, nil
	}
	if activity.HasHeartbeatDetails(ctx) {
		_ = activity.GetHeartbeatDetails(ctx, &prev)
	}
	if prev.Attempts >= c.MaxAttempts {
		return prev, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("the seller's retry window is spent: %d attempts, the last %s", prev.Attempts, prev.LastType), prev.LastType, nil)
	}
	return prev, nil
}

// attemptLog is the heartbeat detail of a seller call: the attempts that reached the
// seller (or tried to) and failed, and the class of the last failure.
type attemptLog struct {
	Attempts int    `json:"attempts"`
	LastType string `json:"lastType,omitempty"`
}

// countFailure records a failed seller attempt. Only attempts that called the seller are
// counted: a crash of our worker in the middle of a call counts nothing, like any of our
// faults. (The first heartbeat of an attempt is sent at once, not batched.)
func countFailure(ctx context.Context, c SellerCall, prev attemptLog, typ string) {
	if c.MaxAttempts > 0 && activity.IsActivity(ctx) {
		activity.RecordHeartbeat(ctx, attemptLog{Attempts: prev.Attempts + 1, LastType: typ})
	}
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
func (s *Seller) call(ctx context.Context, c SellerCall, act sellerapi.Activity, businessID string, req any) (*sellerapi.CallResult, attemptLog, error) {
	return s.callAnswering(ctx, c, act, businessID, req, nil)
}

// callAnswering is call for an activity whose failing result codes may be answers:
// a code for which isAnswer holds (changeInstanceCheck's refusals) is recorded as a call
// that succeeded (no error text, so product health does not count it) and returned with a
// nil error, its resultMsg made safe to keep (sellerapi.SafeResultMsg). nil isAnswer is call.
func (s *Seller) callAnswering(ctx context.Context, c SellerCall, act sellerapi.Activity, businessID string, req any, isAnswer func(code string) bool) (*sellerapi.CallResult, attemptLog, error) {
	row, err := s.lookup(ctx, c)
	if err != nil {
		return nil, attemptLog{}, err
	}
	prev, err := spentAttempts(ctx, c)
	if err != nil {
		return nil, prev, err
	}
	leave, err := s.Gates.Enter(ctx, c.SellerID)
	if err != nil {
		return nil, prev, err // not the seller's doing: not counted
	}
	defer leave()
	// Signed with the active key; during a rotation an answer signed with the new key is
	// accepted too.
	keys := sellerapi.Keys{Sign: row.AccessKey, Pending: row.PendingKey, Redact: c.redact}
	res, callErr := s.Client.CallKeys(ctx, row.Endpoint, keys, row.VerifyBodySign, req)
	attempt := int32(1)
	if activity.IsActivity(ctx) {
		attempt = activity.GetInfo(ctx).Attempt
	}
	code := res.ResultCode
	errText := ""
	var ce *sellerapi.CallError
	if isAnswer != nil && errors.As(callErr, &ce) && ce.Class != sellerapi.ClassTransport && isAnswer(ce.ResultCode) {
		callErr, ce = nil, nil
		res.Response.ResultMsg = sellerapi.SafeResultMsg(res.Response.ResultMsg, keys)
	}
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
	// A call during a key rotation is marked: a 000001 answer then is the rotation's (the
	// seller checking another key than we sign with), and product health leaves it out.
	if _, err := s.DB.Exec(recCtx, `INSERT INTO seller_calls (order_id, seller_id, product_id, activity, attempt,
		business_id, http_status, result_code, latency_ms, error, during_key_rotation) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)`,
		c.OrderID, c.SellerID, c.ProductID, string(act), attempt, businessID, res.HTTPStatus, code,
		res.Latency.Milliseconds(), errText, row.Rotating()); err != nil {
		// The call itself happened; losing its record must not make us call the seller
		// again for nothing, so it is logged, not returned.
		s.logger().Error("record seller call", "order_id", c.OrderID, "seller_id", c.SellerID, "activity", act, "error", err)
	}
	if callErr != nil {
		if ce != nil {
			// 000001 during a key rotation does not use up the call's window either: an
			// order must not fail (and count against the product's health) because the
			// seller's endpoint moved to its new key before the seller confirmed it.
			rotationAuth := row.Rotating() && ce.Class == sellerapi.ClassAuthFailed
			if ce.Class.Retryable() && !rotationAuth {
				countFailure(ctx, c, prev, ce.Class.ErrorType())
			}
			return res, prev, temporal.NewApplicationErrorWithOptions(ce.Error(), ce.Class.ErrorType(),
				temporal.ApplicationErrorOptions{NonRetryable: !ce.Class.Retryable()})
		}
		return res, prev, fmt.Errorf("%s for order %s: %w", act, c.OrderID, callErr)
	}
	return res, prev, nil
}

// answeredBadly is a retryable failure for an answer that says success but lacks what
// the protocol requires (it counts as a seller attempt).
func answeredBadly(ctx context.Context, c SellerCall, prev attemptLog, class sellerapi.Class, format string, args ...any) error {
	countFailure(ctx, c, prev, class.ErrorType())
	return temporal.NewApplicationError(fmt.Sprintf(format, args...), class.ErrorType())
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
	res, prev, err := s.call(ctx, c, sellerapi.ActivityNewInstance, businessID, sellerapi.NewInstanceRequest{
		Activity: sellerapi.ActivityNewInstance, OrderID: c.OrderID, OrderLineID: c.OrderLineID,
		BusinessID: businessID, TestFlag: s.testFlag(),
	})
	if err != nil {
		return Instance{}, err
	}
	if res.Response.InstanceID == "" {
		// Success without an instance breaks the protocol; retrying may get a proper answer.
		return Instance{}, answeredBadly(ctx, c, prev, sellerapi.ClassUnknownResult,
			"newInstance for order %s: seller answered %s without instanceId", c.OrderID, res.ResultCode)
	}
	inst := Instance{InstanceID: res.Response.InstanceID, Ready: res.ResultCode == sellerapi.CodeSuccess}
	if c.KeepLicense && res.Response.License != "" {
		if inst.License, err = s.keepLicense(ctx, c, res.Response.License, "answer"); err != nil {
			return Instance{}, err
		}
	}
	return inst, nil
}

// keepLicense stores a licence from a seller's answer sealed and returns its reference.
// A licence other than the one the order has is the seller breaking its idempotency: the
// first one stands, and the attempt fails (retried within the window).
func (s *Seller) keepLicense(ctx context.Context, c SellerCall, license, via string) (*order.LicenseRef, error) {
	ref, err := licenses.Store(ctx, s.DB, s.Keys, c.OrderID, license, via, time.Now())
	if errors.Is(err, licenses.ErrMismatch) {
		return nil, temporal.NewApplicationError(fmt.Sprintf("order %s: the seller sent a different licence than before", c.OrderID),
			sellerapi.ClassUnknownResult.ErrorType())
	}
	if err != nil {
		return nil, temporal.NewApplicationError(fmt.Sprintf("keep the licence of order %s: %v", c.OrderID, err), ErrTypeOurFault)
	}
	return &ref, nil
}

// QueryInstance asks whether an asynchronously produced instance is ready. While the seller
// answers 000004 it fails with a retryable SellerPending error, so the workflow polls with
// a retry policy (nothing is added to history per poll).
func (s *Seller) QueryInstance(ctx context.Context, c SellerCall) (Instance, error) {
	res, prev, err := s.call(ctx, c, sellerapi.ActivityQueryInstance, "", sellerapi.QueryInstanceRequest{
		Activity: sellerapi.ActivityQueryInstance, InstanceID: c.InstanceID, TestFlag: s.testFlag(),
	})
	if err != nil {
		return Instance{}, err
	}
	if res.ResultCode == sellerapi.CodePending {
		return Instance{}, answeredBadly(ctx, c, prev, sellerapi.ClassPending,
			"instance %s of order %s is still being produced", c.InstanceID, c.OrderID)
	}
	for _, info := range res.Response.Info {
		if info.InstanceID == c.InstanceID {
			inst := Instance{InstanceID: info.InstanceID, Ready: true, FrontEndURL: info.AppInfo.FrontEndURL}
			if c.KeepLicense && info.License != "" {
				if inst.License, err = s.keepLicense(ctx, c, info.License, "query"); err != nil {
					return Instance{}, err
				}
			}
			return inst, nil
		}
	}
	return Instance{}, answeredBadly(ctx, c, prev, sellerapi.ClassPending,
		"queryInstance for order %s: no info for instance %s", c.OrderID, c.InstanceID)
}

// UpdateInstanceStatus freezes or unfreezes the order's instance; a repeat is a no-op at the
// seller.
func (s *Seller) UpdateInstanceStatus(ctx context.Context, c SellerCall, status sellerapi.InstanceStatus) error {
	_, _, err := s.call(ctx, c, sellerapi.ActivityUpdateInstanceStatus, "", sellerapi.UpdateInstanceStatusRequest{
		Activity: sellerapi.ActivityUpdateInstanceStatus, InstanceID: c.InstanceID, Status: status, TestFlag: s.testFlag(),
	})
	return err
}

// RefreshInstance tells the seller the instance's new expiry in c.Scene (empty: RENEWAL;
// also TRIAL_TO_FORMAL, RENEWAL_CHANGE, UNSUBSCRIBE_RENEWAL_PERIOD), naming the order that
// caused it (c.About: the renewal, conversion, change or un-renewal order) and, when set,
// the product it changes to (c.NewProductID). A repeat with the same expireTime changes
// nothing at the seller. An unknown scene or a missing causing order fails at once,
// without calling the seller: no retry can fix the input.
func (s *Seller) RefreshInstance(ctx context.Context, c SellerCall) error {
	if c.About == nil || c.ExpireTime == nil {
		return nonRetryable(ErrTypeInvalidInput, fmt.Errorf("refreshInstance for order %s: no renewal order or expireTime", c.OrderID))
	}
	scene := c.Scene
	if scene == "" {
		scene = sellerapi.SceneRenewal
	}
	req := sellerapi.RefreshInstanceRequest{
		Activity: sellerapi.ActivityRefreshInstance, Scene: scene,
		OrderID: c.About.OrderID, OrderLineID: c.About.OrderLineID, InstanceID: c.InstanceID,
		ExpireTime: c.ExpireTime.UTC().Format(sellerapi.ExpireTimeLayout), ProductID: c.NewProductID, TestFlag: s.testFlag(),
	}
	// Only the scene is checked here: other missing fields are sent as before and answered
	// by the seller (000002), which the order workflow already treats as a refusal.
	if !scene.Valid() {
		return nonRetryable(ErrTypeInvalidInput, fmt.Errorf("refreshInstance for order %s: unknown scene %q", c.OrderID, scene))
	}
	_, _, err := s.call(ctx, c, sellerapi.ActivityRefreshInstance, "", req)
	return err
}

// UpgradeInstance tells the seller that an upgrade or scale-up order (c.About) of the
// instance c.InstanceID was paid. The seller applies it once per upgrade orderId, so the
// activity may be retried freely (the protocol retries upgrades like newInstance); a
// refusal fails it for good, and the upgrade order is then refunded while the original
// order goes on. The instance keeps its ID.
func (s *Seller) UpgradeInstance(ctx context.Context, c SellerCall) error {
	if c.About == nil {
		return nonRetryable(ErrTypeInvalidInput, fmt.Errorf("upgradeInstance for order %s: no upgrade order", c.OrderID))
	}
	req := sellerapi.UpgradeInstanceRequest{
		Activity: sellerapi.ActivityUpgradeInstance, InstanceID: c.InstanceID,
		OrderID: c.About.OrderID, OrderLineID: c.About.OrderLineID, TestFlag: s.testFlag(),
	}
	if err := req.Validate(); err != nil {
		return nonRetryable(ErrTypeInvalidInput, fmt.Errorf("order %s: %w", c.OrderID, err))
	}
	_, _, err := s.call(ctx, c, sellerapi.ActivityUpgradeInstance, "", req)
	return err
}

// ProductInfo is the target of a change a seller is asked about: product, SKU, quantity.
type ProductInfo struct {
	ProductID string `json:"productId"`
	SKUCode   string `json:"skuCode"`
	Quantity  int    `json:"quantity"`
}

// ChangeCheck is the seller's answer to whether a change may be made. A refusal is an
// answer, not a failure: Feasible is false, ResultCode the seller's code and Reason its
// resultMsg (bounded, never holding the seller's key), for the buyer and ops to read.
type ChangeCheck struct {
	Feasible   bool   `json:"feasible"`
	ResultCode string `json:"resultCode"`
	Reason     string `json:"reason,omitempty"`
}

// ChangeInstanceCheck asks the seller, before a renewal with a change, whether the
// instance c.InstanceID may be changed to target. 000000 is Feasible; a refusal (000002 or
// 000100-000107) is Feasible=false with the seller's reason and a nil error, recorded in
// seller_calls as a call that succeeded so that a seller saying "no" does not count
// against its product's health or the call's retry window. Transport failures, 000001,
// 000005 and unknown codes are retryable errors as for every call, 000003 is not; an
// answer of 000004 (not defined for this activity) is retried.
func (s *Seller) ChangeInstanceCheck(ctx context.Context, c SellerCall, target ProductInfo) (ChangeCheck, error) {
	req := sellerapi.ChangeInstanceCheckRequest{
		Activity: sellerapi.ActivityChangeInstanceCheck, InstanceID: c.InstanceID,
		ProductInfo: sellerapi.ProductInfo{ProductID: target.ProductID, SKUCode: target.SKUCode, Quantity: target.Quantity},
		TestFlag:    s.testFlag(),
	}
	if err := req.Validate(); err != nil {
		return ChangeCheck{}, nonRetryable(ErrTypeInvalidInput, fmt.Errorf("order %s: %w", c.OrderID, err))
	}
	res, prev, err := s.callAnswering(ctx, c, sellerapi.ActivityChangeInstanceCheck, "", req, sellerapi.IsChangeRefusal)
	if err != nil {
		return ChangeCheck{}, err
	}
	switch res.ResultCode {
	case sellerapi.CodeSuccess:
		return ChangeCheck{Feasible: true, ResultCode: res.ResultCode}, nil
	case sellerapi.CodePending:
		return ChangeCheck{}, answeredBadly(ctx, c, prev, sellerapi.ClassPending,
			"changeInstanceCheck for order %s: seller answered 000004, not yet decided", c.OrderID)
	}
	return ChangeCheck{ResultCode: res.ResultCode, Reason: res.Response.ResultMsg}, nil
}

// OrderNotify tells a seller whose product asks for it that the order line c.OrderID /
// c.OrderLineID was paid (any product type). The seller must accept a repeat, so the
// activity may be retried freely.
func (s *Seller) OrderNotify(ctx context.Context, c SellerCall) error {
	req := sellerapi.OrderNotifyRequest{
		Activity: sellerapi.ActivityOrderNotify, OrderID: c.OrderID, OrderLineID: c.OrderLineID, TestFlag: s.testFlag(),
	}
	if err := req.Validate(); err != nil {
		return nonRetryable(ErrTypeInvalidInput, fmt.Errorf("order %s: %w", c.OrderID, err))
	}
	_, _, err := s.call(ctx, c, sellerapi.ActivityOrderNotify, "", req)
	return err
}

// ReleaseInstance releases the order's instance, naming the unsubscribe order when there is
// one. A seller that no longer knows the instance (000003) has nothing left to release:
// that counts as done.
func (s *Seller) ReleaseInstance(ctx context.Context, c SellerCall) error {
	req := sellerapi.ReleaseInstanceRequest{
		Activity: sellerapi.ActivityReleaseInstance, InstanceID: c.InstanceID, TestFlag: s.testFlag(),
	}
	if c.About != nil {
		req.OrderID, req.OrderLineID = c.About.OrderID, c.About.OrderLineID
	}
	_, _, err := s.call(ctx, c, sellerapi.ActivityReleaseInstance, "", req)
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.Type() == sellerapi.ClassInstanceNotFound.ErrorType() {
		return nil
	}
	return err
}
