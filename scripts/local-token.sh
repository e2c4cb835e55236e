#!/usr/bin/env bash
# A token that docker compose's Hasura accepts, for trying the API locally: signed with the
# local-only HS256 key of docker-compose.yaml (HASURA_GRAPHQL_JWT_SECRET), with the claims the
# Pre Token Generation Lambda writes for Cognito's users. Needs openssl and jq.
#
#   scripts/local-token.sh <user uuid> [member|staff|admin]   # prints the token
#   curl -H "Authorization: Bearer $(scripts/local-token.sh "$id")" http://localhost:8080/v1/graphql ...
#
# The key works on your machine only: staging and production trust Cognito's keys alone.
set -euo pipefail

sub=${1:?usage: scripts/local-token.sh <user uuid> [member|staff|admin]}
role=${2:-member}
case $role in
member) roles='["member"]' ;;
staff) roles='["member","staff"]' ;;
admin) roles='["member","admin"]' ;;
*) echo "local-token: role $role is none of member, staff, admin" >&2; exit 2 ;;
esac
key=${LOCAL_JWT_KEY:-local-only-jwt-key-for-docker-compose-0123456789}

b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
claims=$(jq -cn --arg sub "$sub" --argjson roles "$roles" \
	'{"x-hasura-user-id": $sub, "x-hasura-default-role": "member", "x-hasura-allowed-roles": $roles} | tostring')
header=$(printf '{"alg":"HS256","typ":"JWT"}' | b64url)
payload=$(jq -cn --arg sub "$sub" --argjson claims "$claims" --argjson exp "$(($(date +%s) + 3600))" \
	'{sub: $sub, exp: $exp, "https://hasura.io/jwt/claims": $claims}' | b64url)
signature=$(printf '%s.%s' "$header" "$payload" | openssl dgst -sha256 -hmac "$key" -binary | b64url)
echo "$header.$payload.$signature"
