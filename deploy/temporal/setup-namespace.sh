#!/bin/sh
# Registers the namespace ferry uses and ferry's search attributes on a running Temporal server
# (docker-compose.yml, service temporal-namespace). Idempotent. The worker would add the search
# attributes itself, but a production worker's role often may not; registering them here keeps
# that right with the operator. Keep the list in sync with ALL_SEARCH_ATTRIBUTES in
# src/contract/search-attributes.ts (test/deploy/compose-production.test.ts fails otherwise).
set -eu

ns="${TEMPORAL_NAMESPACE:-default}"
until temporal operator cluster health >/dev/null 2>&1; do
  echo "temporal-namespace: waiting for the server at $TEMPORAL_ADDRESS"
  sleep 2
done
if ! temporal operator namespace describe --namespace "$ns" >/dev/null 2>&1; then
  temporal operator namespace create --namespace "$ns" --retention "${TEMPORAL_NAMESPACE_RETENTION:-30d}"
fi
until temporal operator search-attribute list --namespace "$ns" >/dev/null 2>&1; do
  echo "temporal-namespace: waiting for namespace \"$ns\""
  sleep 1
done
# Name=Type, one per attribute (the CLI takes one --type per call); an existing one is kept.
for sa in MigrationName=Keyword MigrationTable=Keyword MigrationPhase=Keyword MigrationPaused=Bool MigrationSpecHash=Keyword ContractNotBefore=Datetime; do
  temporal operator search-attribute create --namespace "$ns" --name "${sa%%=*}" --type "${sa#*=}"
done
echo "temporal-namespace: namespace \"$ns\" ready"
