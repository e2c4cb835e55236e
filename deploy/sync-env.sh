#!/usr/bin/env bash
# Writes the Secrets and ConfigMap that hold one environment's settings (taken from its GitHub
# secrets) as Kubernetes manifests on stdout, for `| kubectl apply -f -`. It never talks to a
# cluster, so deploy_test.go runs it with fake values. The deploy workflow maps the prefixed
# GitHub secrets (DEV_, STAG_, PROD_) to the plain names below.
#
#   deploy/sync-env.sh NAMESPACE > manifests.yaml
#
# SECRET_PREFIX (optional) only makes the error messages name the GitHub secrets.
set -euo pipefail

if [[ $# -ne 1 || -z $1 ]]; then
	echo "usage: $0 NAMESPACE (settings in the environment; see the lists in this script)" >&2
	exit 2
fi
namespace=$1
prefix=${SECRET_PREFIX:-}

# name:required. The workflow's sync step passes exactly these (deploy_test.go checks).
# The _PREVIOUS ones are set only while a secret is being rotated (docs/operations.md).
functions_secrets=(DATABASE_URL:1 ACTION_SECRET:1 ACTION_SECRET_PREVIOUS:0 MEMBER_QR_SECRET:0 MEMBER_QR_SECRET_PREVIOUS:0)
hasura_secrets=(HASURA_GRAPHQL_METADATA_DATABASE_URL:1 PG_DATABASE_URL:1 HASURA_GRAPHQL_ADMIN_SECRET:1 HASURA_GRAPHQL_JWT_SECRET:1 ACTION_SECRET:1)
functions_env=(AWS_REGION:0 COGNITO_USER_POOL_ID:0 S3_BUCKET:0)

missing=()
check() {
	local entry name
	for entry in "$@"; do
		name=${entry%%:*}
		if [[ ${entry##*:} == 1 && -z ${!name:-} ]]; then
			missing+=("$name (GitHub secret ${prefix}${name})")
		fi
	done
}
check "${functions_secrets[@]}" "${hasura_secrets[@]}" "${functions_env[@]}"
if ((${#missing[@]} > 0)); then
	printf 'sync-env: missing or empty: %s\n' "${missing[@]}" >&2
	exit 1
fi
if [[ -n ${MEMBER_QR_SECRET:-} && ${#MEMBER_QR_SECRET} -lt 32 ]]; then
	# The functions refuse to start with a shorter key; fail here, before the rollout.
	echo "sync-env: MEMBER_QR_SECRET (GitHub secret ${prefix}MEMBER_QR_SECRET) must be at least 32 characters" >&2
	exit 1
fi

header() { # kind name component
	printf -- '---\napiVersion: v1\nkind: %s\nmetadata:\n  name: %s\n  namespace: %s\n' "$1" "$2" "$namespace"
	printf '  labels:\n    app.kubernetes.io/name: %s\n    app.kubernetes.io/part-of: loyalty-point-backend\n' "$3"
	printf '    app.kubernetes.io/managed-by: sync-env\n'
}

# Secret values go base64-encoded, so no value needs YAML quoting.
secret() { # name component entries...
	local name=$1 component=$2 entry key
	shift 2
	header Secret "$name" "$component"
	printf 'type: Opaque\ndata:\n'
	for entry in "$@"; do
		key=${entry%%:*}
		if [[ -n ${!key:-} ]]; then
			printf '  %s: %s\n' "$key" "$(printf '%s' "${!key}" | base64 -w0)"
		fi
	done
}

# ConfigMap values are YAML double-quoted strings; settings never hold control characters.
configmap() { # name component entries...
	local name=$1 component=$2 entry key value
	shift 2
	header ConfigMap "$name" "$component"
	printf 'data:\n'
	for entry in "$@"; do
		key=${entry%%:*}
		value=${!key:-}
		[[ -n $value ]] || continue
		if [[ $value == *[[:cntrl:]]* ]]; then
			echo "sync-env: $key holds a control character" >&2
			exit 1
		fi
		value=${value//\\/\\\\}
		value=${value//\"/\\\"}
		printf '  %s: "%s"\n' "$key" "$value"
	done
}

secret functions-secrets functions "${functions_secrets[@]}"
secret hasura-secrets hasura "${hasura_secrets[@]}"
configmap functions-env functions "${functions_env[@]}"
