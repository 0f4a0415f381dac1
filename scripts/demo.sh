#!/usr/bin/env bash
# Walks orders through a running `make run` stack (demo time scale: one day of order life =
# 2 seconds). Needs only curl.
#   1. A supervised service order: delivered, rejected with a reason, redelivered, appealed
#      with evidence, escalated by its SLA, accepted by ops, reviewed by the buyer.
#   2. A pay-per-use order frozen for the customer's arrears and unfrozen on payment, the
#      seller's statement of the month, then the order ended by billing.
#   3. A SaaS order from purchase to release: acceptance, settlement, expiry, grace, freeze,
#      retention, release.
# DEMO=service, DEMO=billing or DEMO=saas runs one of them; MONTH=YYYY-MM states and shows
# another month than the current one.
#
# Reruns on the same data (the .data/ of `make run` survives restarts) work: every order,
# idempotency key and arrears report is named for the run (RUN, default the time); arrears
# an interrupted run left are paid first; a month stated by an earlier run is shown as it
# was stated (a month is stated once per seller) and this run's lines are said to wait for
# the next month's statement. Any step that fails says which, with the API's problem body,
# and exits 1.
set -Eeuo pipefail
API=${API:-http://127.0.0.1:8080}
WEB=${WEB_TOKEN:-dev-web-token}
OPS=${OPS_TOKEN:-dev-ops-token}
BILLING=${BILLING_TOKEN:-dev-billing-token}
SIM=${SIM:-http://127.0.0.1:8090}
RUN=${RUN:-$(date +%s)}
DEMO=${DEMO:-all}
# The month whose seller statement the billing part states and shows (one that has begun).
MONTH=${MONTH:-$(date -u +%Y-%m)}

# step is what the demo is doing, named in the message of any failure.
step="starting"
fail() {
	echo "demo: FAILED ($step): $*" >&2
	exit 1
}
# Anything else that fails (a missing field, a pipeline) still says where.
# (Once, from the top-level shell: a failure in a command substitution reaches it too.)
trap 'rc=$?; [ "$BASH_SUBSHELL" -gt 0 ] || echo "demo: stopped at scripts/demo.sh line $LINENO ($step): $BASH_COMMAND exited $rc" >&2' ERR

# The first "status" of an order document is the order's own (the settlement's comes later).
json_field() { grep -o "\"$1\":\"[^\"]*\"" | head -n 1 | cut -d'"' -f4 || true; }

# request AS METHOD PATH [curl arguments]: calls the API as ops, billing, the buyer or the
# seller and prints the HTTP status on the first line, then the body. A 503 (the API's "retry
# later", e.g. while a Temporal service of `make cluster` restarts) or no answer is tried
# again, as the web tier would, for up to 30 s; it exits (saying so) when the API never
# answers.
request() {
	local as=$1 method=$2 path=$3 out
	shift 3
	local -a who
	case "$as" in
	ops) who=(-H "Authorization: Bearer $OPS" -H "X-Actor-Id: demo-ops") ;;
	billing) who=(-H "Authorization: Bearer $BILLING" -H "X-Actor-Id: demo-billing") ;;
	buyer) who=(-H "Authorization: Bearer $WEB" -H 'X-Actor-Role: buyer' -H 'X-Actor-Id: cust-demo') ;;
	seller) who=(-H "Authorization: Bearer $WEB" -H 'X-Actor-Role: seller' -H 'X-Actor-Id: seller-demo') ;;
	esac
	local try
	for try in $(seq 30); do
		if out=$(curl -sS --max-time 60 -X "$method" "$API$path" "${who[@]}" "$@" -w '\n%{http_code}' 2>/dev/null); then
			[ "${out##*$'\n'}" = 503 ] || break
		elif [ "$try" = 30 ]; then
			fail "$method $path: no answer from $API (is \`make run\` going?)"
		fi
		sleep 1
	done
	printf '%s\n%s\n' "${out##*$'\n'}" "${out%$'\n'*}"
}
# call AS METHOD PATH [curl arguments]: prints the body of a 2xx answer; on any other, says
# which call failed with the API's problem body and exits 1.
call() {
	local out code
	out=$(request "$@") || exit 1
	code=${out%%$'\n'*}
	[ "$code" -ge 200 ] && [ "$code" -lt 300 ] || fail "$2 $3 answered $code: ${out#*$'\n'}"
	printf '%s\n' "${out#*$'\n'}"
}
as_ops() { call ops "$@"; }
as_buyer() { call buyer "$@"; }
as_seller() { call seller "$@"; }
as_billing() { call billing "$@"; }
# wait_for ORDER STATUS polls the order (5 minutes at most) until it shows STATUS. An answer
# other than the order (wrong token, ...) fails at once with its problem body; at the end,
# the failure says where the order stands and what it waits on.
wait_for() {
	local order=$1 want=$2 answer="" code s=""
	for _ in $(seq 1 600); do
		answer=$(request ops GET "/v1/orders/$order")
		code=${answer%%$'\n'*}
		case "$code" in
		200)
			s=$(json_field status <<<"$answer")
			[ "$s" = "$want" ] && { echo "     -> $want"; return 0; }
			;;
		404 | 5*) ;; # not visible yet, or the stack is busy: try again
		*) fail "GET /v1/orders/$order answered $code: ${answer#*$'\n'}" ;;
		esac
		sleep 0.5
	done
	[ "$code" = 200 ] || fail "order $order did not reach $want within 5 minutes: GET /v1/orders/$order answered $code: ${answer#*$'\n'}"
	fail "order $order did not reach $want within 5 minutes: it is ${s:-?}, waiting on $(json_field waitingOn <<<"$answer")$(
		a=$(json_field attention <<<"$answer"); [ -z "$a" ] || echo "; needs attention: $a")$(
		e=$(json_field lastError <<<"$answer"); [ -z "$e" ] || echo "; last error: $e") (GET /v1/orders/$order, and its workflow order-$order in the Temporal UI)"
}
events() {
	echo "   The audit trail (GET /v1/orders/$1/events):"
	as_ops GET "/v1/orders/$1/events?limit=100" | grep -o '"event":"[a-z_]*"' | sed 's/"event":"\(.*\)"/     - \1/'
}

# part names the part of the demo running and say prints a numbered step ("3. ..."); both
# name it in any failure.
part=""
say() {
	step="$part, step ${1%%.*}"
	echo "$1"
}

service_demo() {
	local order="DEMO-SVC-$RUN"
	part="service order $order"
	echo "== A supervised service order: rejection, appeal, escalation, forced acceptance"
	say "1. The web tier places $order for cust-demo (Demo onboarding service, 4800.00 CNY)"
	as_buyer POST "/v1/orders" -H 'Content-Type: application/json' \
		-d "{\"orderId\":\"$order\",\"orderLineId\":\"$order-1\",\"customerId\":\"cust-demo\",\"productId\":\"prod-demo-service\",\"quantity\":1,\"amount\":{\"value\":480000,\"currency\":\"CNY\"}}" >/dev/null
	echo "   Temporal UI: http://127.0.0.1:8233/namespaces/default/workflows/order-$order"
	wait_for "$order" delivering
	say "2. The seller reports the workshops delivered"
	as_seller POST "/v1/orders/$order/delivery" -H 'Content-Type: application/json' \
		-d '{"note":"Workshops held on Monday and Tuesday; slides sent by mail."}' >/dev/null
	wait_for "$order" awaiting_acceptance
	say "3. The buyer rejects it: the slides never arrived"
	as_buyer POST "/v1/orders/$order/rejection" -H 'Content-Type: application/json' \
		-H "Idempotency-Key: demo-reject-$order" -d '{"reason":"The slides never arrived."}' >/dev/null
	wait_for "$order" rejected
	say "4. The seller delivers again"
	as_seller POST "/v1/orders/$order/delivery" -H 'Content-Type: application/json' \
		-d '{"note":"Slides uploaded to the shared drive."}' >/dev/null
	wait_for "$order" awaiting_acceptance
	say "5. The buyer appeals instead of accepting, with a photo of the attendance list as evidence"
	local appeal answer
	answer=$(as_buyer POST "/v1/orders/$order/appeals" -H 'Content-Type: application/json' \
		-d '{"reason":"Only half of the team was trained.","evidence":[{"name":"attendance.jpg","contentType":"image/jpeg","sha256":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","size":48213}]}')
	appeal=$(json_field appealId <<<"$answer")
	[ -n "$appeal" ] || fail "POST /v1/orders/$order/appeals answered without an appealId: $answer"
	echo "     -> appealing (appeal $appeal); the acceptance clock stops, the buyer cannot accept meanwhile:"
	answer=$(request buyer POST "/v1/orders/$order/acceptance")
	echo "     POST acceptance: ${answer%%$'\n'*} $(json_field code <<<"$answer")"
	say "6. Nobody resolves it within tier 1's SLA (2 days = 4 s): it escalates to tier 2"
	local escalated=""
	for _ in $(seq 1 60); do
		answer=$(as_ops GET "/v1/appeals?state=escalated&limit=100")
		grep -q "\"appealId\":\"$appeal\"" <<<"$answer" && { escalated=yes; break; }
		sleep 0.5
	done
	[ -n "$escalated" ] || fail "appeal $appeal did not escalate within 30 s (GET /v1/appeals?state=escalated does not list it)"
	echo "     -> escalated (GET /v1/appeals?state=escalated lists it)"
	say "7. Ops decide: delivered as sold, accepted"
	as_ops POST "/v1/appeals/$appeal/resolution" -H 'Content-Type: application/json' \
		-d '{"outcome":"accept","note":"Second workshop offered for the rest of the team."}' >/dev/null
	wait_for "$order" completed
	say "8. The buyer reviews the order"
	as_buyer POST "/v1/orders/$order/review" -H 'Content-Type: application/json' \
		-d '{"quality":4,"afterSales":5,"deliverySpeed":3,"tags":["responsive"],"text":"Good in the end."}' >/dev/null
	answer=$(as_ops GET "/v1/products/prod-demo-service")
	grep -o '"reviews":{[^}]*}' <<<"$answer" | sed 's/^/     /' || true
	events "$order"
	echo
}

saas_demo() {
	local order="DEMO-SAAS-$RUN"
	part="SaaS order $order"
	# The order expires 5 days after purchase: 10 s at the demo scale.
	local expire answer
	expire=$(date -u -d "@$(( $(date +%s) + 5 * 86400 ))" +%Y-%m-%dT%H:%M:%SZ)
	echo "== A SaaS order from purchase to release"
	say "1. The web tier places $order for cust-demo (Demo SaaS, 199.00 CNY, expires $expire)"
	as_buyer POST "/v1/orders" -H 'Content-Type: application/json' \
		-d "{\"orderId\":\"$order\",\"orderLineId\":\"$order-1\",\"customerId\":\"cust-demo\",\"productId\":\"prod-demo-saas\",\"quantity\":1,\"amount\":{\"value\":19900,\"currency\":\"CNY\"},\"expireTime\":\"$expire\"}" >/dev/null
	echo "   Temporal UI: http://127.0.0.1:8233/namespaces/default/workflows/order-$order"
	say "2. The seller simulator creates the instance; the order waits for the buyer"
	wait_for "$order" awaiting_acceptance
	say "3. The buyer accepts; the settlement is posted (commission 15%)"
	answer=$(as_buyer POST "/v1/orders/$order/acceptance" -H "Idempotency-Key: demo-$order")
	grep -o '"settlement":{[^}]*}' <<<"$answer" | sed 's/"settlement":/     settlement: /' || true
	wait_for "$order" in_service
	say "4. Expiry, the grace of cust-demo's level (V4: 7 days = 14 s), freeze, its retention (15 days = 30 s), release"
	wait_for "$order" frozen
	wait_for "$order" released
	events "$order"
	echo
}

# statement prints a seller-demo statement answer (GET /v1/sellers/seller-demo/settlements):
# its totals per currency, or that it had nothing to pay, and how many of its lines are
# this run's.
statement() {
	local answer=$1 month=$2 totals
	totals=$(grep -o '"currency":"[A-Z]*","gross":[0-9-]*,"commission":[0-9-]*,"net":[0-9-]*,"usageGross":[0-9-]*,"lineCount":[0-9]*' <<<"$answer" || true)
	if [ -z "$totals" ]; then
		echo "     statement of seller-demo for $month: nothing to pay (no line of the seller was posted and unstated when it was made)"
		return
	fi
	sed 's/^/     statement of seller-demo for '"$month"': /' <<<"$totals"
	echo "     lines of this run's orders in it: $(grep -o "\"orderId\":\"DEMO-[A-Z]*-$RUN\"" <<<"$answer" | wc -l)"
}

billing_demo() {
	local order="DEMO-PPU-$RUN" month next answer
	part="pay-per-use order $order"
	month=$MONTH
	# The first month whose statement can take lines posted now: this one, or the next.
	next=$(date -u +%Y-%m)
	[[ "$month" < "$next" ]] || next=$(date -u -d "$month-01 +1 month" +%Y-%m)
	echo "== Arrears on a pay-per-use order, then the seller's statement"
	# A demo interrupted before its payment leaves cust-demo in arrears, and a customer in
	# arrears may not place pay-per-use orders: billing settles what is left first.
	local left
	step="$part, paying what an earlier demo left owing"
	answer=$(as_billing GET "/v1/customers/cust-demo/arrears")
	left=$(grep -o '"outstanding":{"value":[0-9]*' <<<"$answer" | grep -o '[0-9]*$' || true)
	if [ "${left:-0}" -gt 0 ]; then
		say "0. cust-demo still owes $left (an earlier demo stopped before paying): billing records the payment"
		as_billing POST "/v1/customers/cust-demo/payments" -H 'Content-Type: application/json' \
			-H "Idempotency-Key: demo-leftover-$RUN" -d "{\"amount\":{\"value\":$left,\"currency\":\"CNY\"}}" >/dev/null
		for _ in $(seq 1 100); do
			answer=$(as_billing GET "/v1/customers/cust-demo/arrears")
			grep -q '"state":"none"' <<<"$answer" && break
			sleep 0.2
		done
	fi
	say "1. The web tier places $order (Demo metered API, pay-per-use at 0.25 CNY a unit)"
	as_buyer POST "/v1/orders" -H 'Content-Type: application/json' \
		-d "{\"orderId\":\"$order\",\"orderLineId\":\"$order-1\",\"customerId\":\"cust-demo\",\"productId\":\"prod-demo-metered\",\"quantity\":1,\"amount\":{\"value\":0,\"currency\":\"CNY\"}}" >/dev/null
	wait_for "$order" in_service
	say "2. Billing reports arrears of 120.00 CNY: the grace of cust-demo's level for pay-per-use starts"
	as_billing POST "/v1/customers/cust-demo/arrears" -H 'Content-Type: application/json' \
		-H "Idempotency-Key: demo-arrears-$RUN" \
		-d "{\"amount\":{\"value\":12000,\"currency\":\"CNY\"},\"since\":\"$(date -u +%Y-%m-%dT%H:%M:%SZ)\"}" >/dev/null
	sleep 1
	as_billing GET "/v1/customers/cust-demo/arrears" | sed 's/^/     /'
	echo "   The account workflow: http://127.0.0.1:8233/namespaces/default/workflows/account-cust-demo"
	say "3. Nobody pays within the grace: every pay-per-use order of cust-demo is frozen at the seller"
	wait_for "$order" frozen
	say "4. Billing reports the payment: the orders are unfrozen at the seller"
	as_billing POST "/v1/customers/cust-demo/payments" -H 'Content-Type: application/json' \
		-H "Idempotency-Key: demo-payment-$RUN" -d '{"amount":{"value":12000,"currency":"CNY"}}' >/dev/null
	wait_for "$order" in_service
	echo "   What the seller was told about the instance (simulator's call log):"
	local inst
	inst=$(as_ops GET "/v1/orders/$order" | json_field instanceId)
	[ -n "$inst" ] || fail "GET /v1/orders/$order shows no instanceId"
	answer=$(curl -sS "$SIM/admin/sellers/seller-demo/calls?instanceId=$inst") ||
		fail "GET $SIM/admin/sellers/seller-demo/calls: no answer from the seller simulator"
	grep -o '"activity":"[a-zA-Z]*"[^}]*"status":"[A-Z]*"' <<<"$answer" |
		sed 's/"activity":"\([a-zA-Z]*\)".*"status":"\([A-Z]*\)"/     - \1 \2/' || true
	# A month is stated once per seller (a rerun changes nothing), so a rerun of the demo in
	# the same month finds it stated: its own lines wait for the next month's statement.
	answer=$(request ops GET "/v1/sellers/seller-demo/settlements?month=$month")
	if [ "${answer%%$'\n'*}" = 200 ]; then
		say "5. seller-demo's statement of $month was made already, at $(json_field statedAt <<<"$answer") (an earlier demo or ops ran it)"
		echo "   A month is stated once per seller and stays as it was: this run's lines wait for a later statement, $next's at the earliest"
		echo "   (the seller-statements schedule states each month on the 3rd of the next; ops: POST /v1/settlements/runs {\"month\":\"YYYY-MM\"})"
	else
		say "5. Ops state the seller statements of $month now (POST /v1/settlements/runs; the schedule states the month before on the 3rd)"
		as_ops POST "/v1/settlements/runs" -H 'Content-Type: application/json' -H "Idempotency-Key: demo-statements-$RUN" \
			-d "{\"month\":\"$month\"}" >/dev/null
		for _ in $(seq 1 60); do
			answer=$(request ops GET "/v1/sellers/seller-demo/settlements?month=$month")
			[ "${answer%%$'\n'*}" = 200 ] && break
			sleep 0.5
		done
		[ "${answer%%$'\n'*}" = 200 ] ||
			fail "the statement of $month did not appear within 30 s: GET /v1/sellers/seller-demo/settlements?month=$month answered ${answer%%$'\n'*}: ${answer#*$'\n'}"
	fi
	statement "$answer" "$month"
	# A pay-per-use order runs until billing ends it, and every later arrears of cust-demo
	# would hold it again: each run ends its own, so reruns do not pile them up.
	say "6. Billing ends the order (POST /v1/orders/$order/unsubscription): released at the seller, its workflow completes"
	as_billing POST "/v1/orders/$order/unsubscription" -H 'Content-Type: application/json' \
		-H "Idempotency-Key: demo-unsubscribe-$RUN" -d '{"reason":"The demo is over."}' >/dev/null
	wait_for "$order" released
	echo
}

case "$DEMO" in
service) service_demo ;;
saas) saas_demo ;;
billing) billing_demo ;;
all) service_demo; billing_demo; saas_demo ;;
*) fail "DEMO=$DEMO: want service, billing, saas or all" ;;
esac
echo "Done. In the Temporal UI (http://127.0.0.1:8233), Workflows, </> (View raw query): CustomerId = 'cust-demo' lists"
echo "every demo order and the account; while a run goes on, AppealOpen = true and ArrearsState = 'frozen' find its cases. See also Schedules."
