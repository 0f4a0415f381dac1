#!/usr/bin/env bash
# Walks orders through a running `make run` stack (demo time scale: one day of order life =
# 2 seconds). Needs only curl.
#   1. A supervised service order: delivered, rejected with a reason, redelivered, appealed
#      with evidence, escalated by its SLA, accepted by ops, reviewed by the buyer.
#   2. A pay-per-use order frozen for the customer's arrears and unfrozen on payment, then
#      the seller's statement of the month.
#   3. A SaaS order from purchase to release: acceptance, settlement, expiry, grace, freeze,
#      retention, release.
# DEMO=service, DEMO=billing or DEMO=saas runs one of them.
set -euo pipefail
API=${API:-http://127.0.0.1:8080}
WEB=${WEB_TOKEN:-dev-web-token}
OPS=${OPS_TOKEN:-dev-ops-token}
BILLING=${BILLING_TOKEN:-dev-billing-token}
SIM=${SIM:-http://127.0.0.1:8090}
RUN=${RUN:-$(date +%s)}
DEMO=${DEMO:-all}

# The first "status" of an order document is the order's own (the settlement's comes later).
json_field() { grep -o "\"$1\":\"[^\"]*\"" | head -n 1 | cut -d'"' -f4; }
as_ops() { curl -fsS "$@" -H "Authorization: Bearer $OPS" -H "X-Actor-Id: demo-ops"; }
as_buyer() { curl -fsS "$@" -H "Authorization: Bearer $WEB" -H 'X-Actor-Role: buyer' -H 'X-Actor-Id: cust-demo'; }
as_seller() { curl -fsS "$@" -H "Authorization: Bearer $WEB" -H 'X-Actor-Role: seller' -H 'X-Actor-Id: seller-demo'; }
as_billing() { curl -fsS "$@" -H "Authorization: Bearer $BILLING" -H "X-Actor-Id: demo-billing"; }
status() { as_ops "$API/v1/orders/$1" | json_field status; }
wait_for() {
	local order=$1 want=$2 s=""
	for _ in $(seq 1 600); do
		s=$(status "$order" 2>/dev/null || true)
		[ "$s" = "$want" ] && { echo "     -> $want"; return 0; }
		sleep 0.5
	done
	echo "order $order did not reach $want (last: ${s:-none})" >&2
	exit 1
}
events() {
	echo "   The audit trail (GET /v1/orders/$1/events):"
	as_ops "$API/v1/orders/$1/events?limit=100" | grep -o '"event":"[a-z_]*"' | sed 's/"event":"\(.*\)"/     - \1/'
}

service_demo() {
	local order="DEMO-SVC-$RUN"
	echo "== A supervised service order: rejection, appeal, escalation, forced acceptance"
	echo "1. The web tier places $order for cust-demo (Demo onboarding service, 4800.00 CNY)"
	as_buyer -X POST "$API/v1/orders" -H 'Content-Type: application/json' \
		-d "{\"orderId\":\"$order\",\"orderLineId\":\"$order-1\",\"customerId\":\"cust-demo\",\"productId\":\"prod-demo-service\",\"quantity\":1,\"amount\":{\"value\":480000,\"currency\":\"CNY\"}}" >/dev/null
	echo "   Temporal UI: http://127.0.0.1:8233/namespaces/default/workflows/order-$order"
	wait_for "$order" delivering
	echo "2. The seller reports the workshops delivered"
	as_seller -X POST "$API/v1/orders/$order/delivery" -H 'Content-Type: application/json' \
		-d '{"note":"Workshops held on Monday and Tuesday; slides sent by mail."}' >/dev/null
	wait_for "$order" awaiting_acceptance
	echo "3. The buyer rejects it: the slides never arrived"
	as_buyer -X POST "$API/v1/orders/$order/rejection" -H 'Content-Type: application/json' \
		-H "Idempotency-Key: demo-reject-$order" -d '{"reason":"The slides never arrived."}' >/dev/null
	wait_for "$order" rejected
	echo "4. The seller delivers again"
	as_seller -X POST "$API/v1/orders/$order/delivery" -H 'Content-Type: application/json' \
		-d '{"note":"Slides uploaded to the shared drive."}' >/dev/null
	wait_for "$order" awaiting_acceptance
	echo "5. The buyer appeals instead of accepting, with a photo of the attendance list as evidence"
	local appeal
	appeal=$(as_buyer -X POST "$API/v1/orders/$order/appeals" -H 'Content-Type: application/json' \
		-d '{"reason":"Only half of the team was trained.","evidence":[{"name":"attendance.jpg","contentType":"image/jpeg","sha256":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","size":48213}]}' |
		json_field appealId)
	echo "     -> appealing (appeal $appeal); the acceptance clock stops, the buyer cannot accept meanwhile:"
	curl -sS -X POST "$API/v1/orders/$order/acceptance" -H "Authorization: Bearer $WEB" -H 'X-Actor-Role: buyer' \
		-H 'X-Actor-Id: cust-demo' -w ' %{http_code}\n' | sed -n 's/.*"code":"\([a-z_]*\)".* \([0-9]*\)$/     POST acceptance: \2 \1/p'
	echo "6. Nobody resolves it within tier 1's SLA (2 days = 4 s): it escalates to tier 2"
	for _ in $(seq 1 60); do
		as_ops "$API/v1/appeals?state=escalated&limit=100" | grep -q "\"appealId\":\"$appeal\"" && break
		sleep 0.5
	done
	as_ops "$API/v1/appeals?state=escalated&limit=100" | grep -q "\"appealId\":\"$appeal\"" ||
		{ echo "appeal $appeal did not escalate" >&2; exit 1; }
	echo "     -> escalated (GET /v1/appeals?state=escalated lists it)"
	echo "7. Ops decide: delivered as sold, accepted"
	as_ops -X POST "$API/v1/appeals/$appeal/resolution" -H 'Content-Type: application/json' \
		-d '{"outcome":"accept","note":"Second workshop offered for the rest of the team."}' >/dev/null
	wait_for "$order" completed
	echo "8. The buyer reviews the order"
	as_buyer -X POST "$API/v1/orders/$order/review" -H 'Content-Type: application/json' \
		-d '{"quality":4,"afterSales":5,"deliverySpeed":3,"tags":["responsive"],"text":"Good in the end."}' >/dev/null
	as_ops "$API/v1/products/prod-demo-service" | grep -o '"reviews":{[^}]*}' | sed 's/^/     /'
	events "$order"
	echo
}

saas_demo() {
	local order="DEMO-SAAS-$RUN"
	# The order expires 5 days after purchase: 10 s at the demo scale.
	local expire
	expire=$(date -u -d "@$(( $(date +%s) + 5 * 86400 ))" +%Y-%m-%dT%H:%M:%SZ)
	echo "== A SaaS order from purchase to release"
	echo "1. The web tier places $order for cust-demo (Demo SaaS, 199.00 CNY, expires $expire)"
	as_buyer -X POST "$API/v1/orders" -H 'Content-Type: application/json' \
		-d "{\"orderId\":\"$order\",\"orderLineId\":\"$order-1\",\"customerId\":\"cust-demo\",\"productId\":\"prod-demo-saas\",\"quantity\":1,\"amount\":{\"value\":19900,\"currency\":\"CNY\"},\"expireTime\":\"$expire\"}" >/dev/null
	echo "   Temporal UI: http://127.0.0.1:8233/namespaces/default/workflows/order-$order"
	echo "2. The seller simulator creates the instance; the order waits for the buyer"
	wait_for "$order" awaiting_acceptance
	echo "3. The buyer accepts; the settlement is posted (commission 15%)"
	as_buyer -X POST "$API/v1/orders/$order/acceptance" -H "Idempotency-Key: demo-$order" |
		sed 's/.*"settlement":\({[^}]*}\).*/     settlement: \1/'
	echo
	wait_for "$order" in_service
	echo "4. Expiry, the grace of cust-demo's level (V4: 7 days = 14 s), freeze, its retention (15 days = 30 s), release"
	wait_for "$order" frozen
	wait_for "$order" released
	events "$order"
	echo
}

billing_demo() {
	local order="DEMO-PPU-$RUN" month
	month=$(date -u +%Y-%m)
	echo "== Arrears on a pay-per-use order, then the seller's statement"
	# A demo interrupted before its payment leaves cust-demo in arrears, and a customer in
	# arrears may not place pay-per-use orders: billing settles what is left first.
	local left
	left=$(as_billing "$API/v1/customers/cust-demo/arrears" | grep -o '"outstanding":{"value":[0-9]*' | grep -o '[0-9]*$' || true)
	if [ "${left:-0}" -gt 0 ]; then
		echo "0. cust-demo still owes $left (an earlier demo stopped before paying): billing records the payment"
		as_billing -X POST "$API/v1/customers/cust-demo/payments" -H 'Content-Type: application/json' \
			-d "{\"amount\":{\"value\":$left,\"currency\":\"CNY\"}}" >/dev/null
		for _ in $(seq 1 100); do
			as_billing "$API/v1/customers/cust-demo/arrears" | grep -q '"state":"none"' && break
			sleep 0.2
		done
	fi
	echo "1. The web tier places $order (Demo metered API, pay-per-use at 0.25 CNY a unit)"
	as_buyer -X POST "$API/v1/orders" -H 'Content-Type: application/json' \
		-d "{\"orderId\":\"$order\",\"orderLineId\":\"$order-1\",\"customerId\":\"cust-demo\",\"productId\":\"prod-demo-metered\",\"quantity\":1,\"amount\":{\"value\":0,\"currency\":\"CNY\"}}" >/dev/null
	wait_for "$order" in_service
	echo "2. Billing reports arrears of 120.00 CNY: the grace of cust-demo's level for pay-per-use starts"
	as_billing -X POST "$API/v1/customers/cust-demo/arrears" -H 'Content-Type: application/json' \
		-H "Idempotency-Key: demo-arrears-$RUN" \
		-d "{\"amount\":{\"value\":12000,\"currency\":\"CNY\"},\"since\":\"$(date -u +%Y-%m-%dT%H:%M:%SZ)\"}" >/dev/null
	sleep 1
	as_billing "$API/v1/customers/cust-demo/arrears" | sed 's/^/     /'
	echo
	echo "   The account workflow: http://127.0.0.1:8233/namespaces/default/workflows/account-cust-demo"
	echo "3. Nobody pays within the grace: every pay-per-use order of cust-demo is frozen at the seller"
	wait_for "$order" frozen
	echo "4. Billing reports the payment: the orders are unfrozen at the seller"
	as_billing -X POST "$API/v1/customers/cust-demo/payments" -H 'Content-Type: application/json' \
		-H "Idempotency-Key: demo-payment-$RUN" -d '{"amount":{"value":12000,"currency":"CNY"}}' >/dev/null
	wait_for "$order" in_service
	echo "   What the seller was told about the instance (simulator's call log):"
	local inst
	inst=$(as_ops "$API/v1/orders/$order" | json_field instanceId)
	curl -fsS "$SIM/admin/sellers/seller-demo/calls?instanceId=$inst" | grep -o '"activity":"[a-zA-Z]*"[^}]*"status":"[A-Z]*"' |
		sed 's/"activity":"\([a-zA-Z]*\)".*"status":"\([A-Z]*\)"/     - \1 \2/'
	echo "5. Ops run this month's seller statements now (the schedule runs the month before on the 3rd)"
	as_ops -X POST "$API/v1/settlements/runs" -H 'Content-Type: application/json' -d "{\"month\":\"$month\"}" >/dev/null
	for _ in $(seq 1 60); do
		as_ops "$API/v1/sellers/seller-demo/settlements?month=$month" >/dev/null 2>&1 && break
		sleep 0.5
	done
	as_ops "$API/v1/sellers/seller-demo/settlements?month=$month" |
		grep -o '"currency":"[A-Z]*","gross":[0-9-]*,"commission":[0-9-]*,"net":[0-9-]*,"usageGross":[0-9-]*,"lineCount":[0-9]*' |
		sed 's/^/     statement of seller-demo: /'
	echo
}

case "$DEMO" in
service) service_demo ;;
saas) saas_demo ;;
billing) billing_demo ;;
*) service_demo; billing_demo; saas_demo ;;
esac
echo "Done. In the Temporal UI, search: CustomerId = 'cust-demo'; AppealOpen = true; ArrearsState = 'frozen'; and see Schedules"
