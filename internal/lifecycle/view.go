package lifecycle

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cloudmarket/orders/internal/order"
)

// View is the order as the API shows it, derived from the state at time now.
func View(s *State, now time.Time) order.View {
	v := order.InitialView(s.In)
	v.Phase, v.Status = s.Phase, s.Status()
	v.InstanceID, v.FrontEndURL = s.InstanceID, s.FrontEndURL
	v.Frozen = make([]string, 0, len(s.Holds))
	for _, h := range s.Holds {
		v.Frozen = append(v.Frozen, string(h))
	}
	v.NeedsAttention, v.Attention, v.LastError = s.Attention != "", s.Attention, s.LastError
	if v.NeedsAttention {
		v.AttentionCause = s.CauseCode(s.AttentionCause)
		v.AttentionItems = s.AttentionItems()
		if n := len(v.AttentionItems); n > 0 {
			v.AttentionCause, v.AttentionSince = v.AttentionItems[n-1].Cause, v.AttentionItems[n-1].Since
		}
	}
	v.WaitingOn = waitingOn(s)
	v.Rejections, v.LastRejection = s.Rejections, s.LastRejection
	v.Settlement = s.Settlement
	v.License, v.Shipment, v.Delivery, v.Appeal, v.AcceptedBy = s.License, s.Shipment, s.Delivery, s.Appeal, s.AcceptedBy
	if len(s.Deployment) > 0 {
		v.Deployment = append([]order.DeploymentPhase{}, s.Deployment...)
	}
	v.ExpireTime = s.currentExpire()
	v.OrderType, v.ConvertedBy = s.In.OrderType, s.ConvertedBy
	if len(s.Changes) > 0 || slices.ContainsFunc(s.Renewals, func(r order.Renewal) bool { return r.Change != nil }) {
		v.ProductNow, v.QuantityNow = s.productNow()
		v.Changes = append([]order.Change{}, s.Changes[max(0, len(s.Changes)-order.MaxViewRenewals):]...)
	}
	v.InServiceSince, v.ServiceEndedAt = s.InServiceAt, s.ServiceEndedAt
	v.LicenseCodeActivatedAt = s.CodeActivatedAt
	v.RenewalCount, v.Unsubscription = len(s.Renewals), s.Unsubscription
	if n := len(s.Renewals); n > 0 {
		v.Renewals = append([]order.Renewal{}, s.Renewals[max(0, n-order.MaxViewRenewals):]...)
	}
	v.Deadlines = []order.Deadline{}
	for _, c := range s.Clocks {
		if !c.Paused {
			v.Deadlines = append(v.Deadlines, order.Deadline{Action: string(c.Name), At: c.At})
		}
	}
	v.UpdatedAt = now
	return v
}

// waitingOn names who must act next: the WaitingOn search attribute.
func waitingOn(s *State) order.WaitingOn {
	switch {
	case s.Phase.Final() && s.Calls.Empty() && !(s.AppealOpen() && s.rules(RulesSeams)):
		return order.WaitNone // (an appeal that outlives the order waits on ops)
	case s.AppealOpen() || len(s.Calls.Failed()) > 0 || s.Phase == order.PhaseProvisionFailed:
		return order.WaitOps
	case slices.Contains(s.Holds, HoldArrears):
		return order.WaitBilling // the customer's payment
	}
	switch s.Phase {
	case order.PhaseAwaitingAcceptance:
		return order.WaitBuyer
	case order.PhaseProvisioning, order.PhaseDeploying, order.PhaseShipping, order.PhaseDelivering, order.PhaseRejected:
		return order.WaitSeller
	}
	return order.WaitTimer
}

// Details is what the Temporal UI shows as the workflow's current details: where the
// order stands, who it waits on and until when, the appeal, what needs ops. Markdown.
func Details(s *State, v order.View) string {
	var b strings.Builder
	fmt.Fprintf(&b, "**%s** (%s, %s)\n\n", v.Status, v.ProductType, v.BillingMode)
	fmt.Fprintf(&b, "Waiting on: **%s**\n\n", v.WaitingOn)
	if v.InstanceID != "" {
		fmt.Fprintf(&b, "Instance: `%s`\n\n", v.InstanceID)
	}
	if a := s.Appeal; s.AppealOpen() {
		fmt.Fprintf(&b, "Appeal `%s` open, tier %d, raised by %s: resolve with POST /v1/appeals/%s/resolution\n\n",
			a.AppealID, a.Tier, a.RaisedBy.Kind, a.AppealID)
	}
	if v.NeedsAttention {
		fmt.Fprintf(&b, "**Needs ops attention**: %s\n\n", v.Attention)
		for _, it := range v.AttentionItems[:max(len(v.AttentionItems)-1, 0)] {
			fmt.Fprintf(&b, "- also `%s`: %s\n", it.Cause, it.Why) // the causes standing behind the latest
		}
		if v.AttentionCause != "" {
			since := ""
			if v.AttentionSince != nil {
				since = " since " + v.AttentionSince.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(&b, "Cause `%s`%s: GET /v1/attention?cause=%s lists every order with it\n\n", v.AttentionCause, since, v.AttentionCause)
		}
	}
	for _, c := range s.Clocks {
		if c.Paused {
			fmt.Fprintf(&b, "- %s: paused by the appeal, %s left\n", s.ClockSummary(c.Name), order.FormatDuration(c.Left))
			continue
		}
		fmt.Fprintf(&b, "- %s at %s\n", s.ClockSummary(c.Name), c.At.UTC().Format(time.RFC3339))
	}
	for _, c := range s.Calls {
		fmt.Fprintf(&b, "- seller call %s: %s\n", c.Kind, c.State)
	}
	return b.String()
}
