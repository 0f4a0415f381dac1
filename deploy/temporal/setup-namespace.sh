#!/bin/sh
# Runs in temporalio/admin-tools (compose service temporal-setup) once the server is up:
# creates the orders namespace and registers the custom search attributes the workflows
# upsert. Idempotent: what exists is kept.
#
# ATTRIBUTES must list every attribute of internal/searchattr/searchattr.go with its type
# (deploy/check fails when they differ). On a real cluster run the same commands once per
# namespace, e.g. from a workstation with the temporal CLI.
set -eu
: "${TEMPORAL_ADDRESS:?}" "${TEMPORAL_NAMESPACE:?}"
ATTRIBUTES="
OrderStatus Keyword
SellerId Keyword
CustomerId Keyword
ProductId Keyword
ProductType Keyword
WaitingOn Keyword
ArrearsState Keyword
NextDeadline Datetime
AppealTier Int
AppealOpen Bool
NeedsAttention Bool
AttentionCause Keyword
"
ns=$TEMPORAL_NAMESPACE

i=0
until temporal operator cluster health >/dev/null 2>&1; do
	i=$((i + 1))
	[ "$i" -lt 60 ] || { echo "Temporal at $TEMPORAL_ADDRESS is not healthy" >&2; exit 1; }
	sleep 2
done

temporal operator namespace describe --namespace "$ns" >/dev/null 2>&1 ||
	temporal operator namespace create --namespace "$ns" --retention "${NAMESPACE_RETENTION:-720h}"

echo "$ATTRIBUTES" | while read -r name type; do
	[ -n "$name" ] || continue
	if ! out=$(temporal operator search-attribute create --namespace "$ns" --name "$name" --type "$type" 2>&1); then
		case $out in
		*"already exists"*) ;;
		*) echo "$out" >&2; exit 1 ;;
		esac
	fi
done
temporal operator search-attribute list --namespace "$ns"
echo "namespace $ns ready"
