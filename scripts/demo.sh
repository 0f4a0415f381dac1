#!/usr/bin/env bash
# Walks one SaaS order from purchase to release against a running `make run` stack (demo
# time scale: one day of order life = 2 seconds). Needs only curl.
set -euo pipefail
API=${API:-http://127.0.0.1:8080}
WEB=${WEB_TOKEN:-dev-web-token}
OPS=${OPS_TOKEN:-dev-ops-token}
ORDER=${ORDER:-DEMO-$(date +%s)}

# The first "status" of an order document is the order's own (the settlement's comes later).
json_field() { grep -o "\"$1\":\"[^\"]*\"" | head -n 1 | cut -d'"' -f4; }
status() {
	curl -fsS "$API/v1/orders/$ORDER" -H "Authorization: Bearer $OPS" -H "X-Actor-Id: demo" | json_field status
}
wait_for() {
	local want=$1 s=""
	for _ in $(seq 1 600); do
		s=$(status 2>/dev/null || true)
		[ "$s" = "$want" ] && { echo "  -> $want"; return 0; }
		sleep 0.5
	done
	echo "order $ORDER did not reach $want (last: ${s:-none})" >&2
	exit 1
}

# The order expires 5 days after purchase: 10 s at the demo scale.
expire=$(date -u -d "@$(( $(date +%s) + 5 * 86400 ))" +%Y-%m-%dT%H:%M:%SZ)
echo "1. The web tier places order $ORDER for cust-demo (Demo SaaS, 199.00 CNY, expires $expire)"
curl -fsS -X POST "$API/v1/orders" -H "Authorization: Bearer $WEB" -H 'Content-Type: application/json' \
	-H 'X-Actor-Role: buyer' -H 'X-Actor-Id: cust-demo' \
	-d "{\"orderId\":\"$ORDER\",\"orderLineId\":\"$ORDER-1\",\"customerId\":\"cust-demo\",\"productId\":\"prod-demo-saas\",\"quantity\":1,\"amount\":{\"value\":19900,\"currency\":\"CNY\"},\"expireTime\":\"$expire\"}" >/dev/null
echo "   Temporal UI: http://127.0.0.1:8233/namespaces/default/workflows/order-$ORDER"
echo "2. The seller simulator creates the instance; the order waits for the buyer"
wait_for awaiting_acceptance
echo "3. The buyer accepts; the settlement is posted (commission 15%)"
curl -fsS -X POST "$API/v1/orders/$ORDER/acceptance" -H "Authorization: Bearer $WEB" \
	-H 'X-Actor-Role: buyer' -H 'X-Actor-Id: cust-demo' -H "Idempotency-Key: demo-$ORDER" | sed 's/.*"settlement":\({[^}]*}\).*/   settlement: \1/'
echo
wait_for in_service
echo "4. Expiry, 15 days of grace (30 s), freeze, 15 days of retention (30 s), release"
wait_for frozen
wait_for released
echo "5. The audit trail:"
curl -fsS "$API/v1/orders/$ORDER/events" -H "Authorization: Bearer $OPS" -H "X-Actor-Id: demo" |
	grep -o '"event":"[a-z_]*"' | sed 's/"event":"\(.*\)"/   - \1/'
echo "Done. In the Temporal UI, search: OrderStatus = 'released' AND CustomerId = 'cust-demo'"
