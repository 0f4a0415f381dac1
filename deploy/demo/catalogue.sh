#!/bin/sh
# Runs in curlimages/curl (compose service demo-catalogue, `--profile demo`): puts the demo
# seller (the simulator), customer cust-demo (level V4) and one supervised SaaS product
# through the API as ops, like `make run` does. PUTs are upserts: running it again is safe.
set -eu
: "${API_URL:?}" "${API_TOKENS:?}" "${SELLERSIM_SELLERS:?}" "${SELLER_ENDPOINT:?}"
ops=$(echo "$API_TOKENS" | tr ',' '\n' | sed -n 's/^ops://p' | head -n 1)
key=$(echo "$SELLERSIM_SELLERS" | tr ',' '\n' | sed -n 's/^seller-demo://p' | head -n 1)
[ -n "$ops" ] || { echo "API_TOKENS has no ops token" >&2; exit 1; }
[ -n "$key" ] || { echo "SELLERSIM_SELLERS has no seller-demo" >&2; exit 1; }

put() {
	curl -fsS -X PUT "$API_URL$1" -H "Authorization: Bearer $ops" -H 'X-Actor-Id: demo-catalogue' \
		-H 'Content-Type: application/json' -d "$2" -o /dev/null
	echo "PUT $1"
}
put /v1/sellers/seller-demo "{\"name\":\"Demo Seller\",\"endpoint\":\"$SELLER_ENDPOINT\",\"accessKey\":\"$key\"}"
put /v1/customers/cust-demo '{"level":"V4"}'
put /v1/products/prod-demo-saas '{"name":"Demo SaaS (monthly)","type":"saas","billingMode":"monthly","acceptanceCriteria":"The instance URL opens and the admin can sign in.","supervised":true,"sellerId":"seller-demo","commissionRate":1500}'
