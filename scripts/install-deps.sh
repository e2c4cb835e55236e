#!/usr/bin/env bash
# Installs what `make dev` and `make test` need on a Debian or Ubuntu machine, and does
# nothing for what is already there. `make dev`, `make test` and `.ci/run` all call it.
#
#   scripts/install-deps.sh dev    PostgreSQL server binaries, the postgres user (as root), curl
#   scripts/install-deps.sh test   the same, plus Node.js/npm, cognito-local and axe-core (npm ci,
#                                  pinned by their package-lock.json), Chromium (browser tests),
#                                  and shellcheck, jq and openssl (the deploy tests); when that
#                                  node is older than 20.19 (Debian 12's nodejs is 18), Node.js
#                                  20.20.2 from the npm registry's node package, into /usr/local
#
# System packages come from apt, as root or through sudo; it says what it installs and why.
# Set SKIP_INSTALL_DEPS=1 to check nothing (a machine managed some other way).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

what=${1:-test}
case $what in
dev | test) ;;
*)
	echo "usage: $0 dev|test" >&2
	exit 2
	;;
esac
if [[ -n ${SKIP_INSTALL_DEPS:-} ]]; then
	exit 0
fi

say() { printf '[install-deps] %s\n' "$*" >&2; }

sudo=()
if [[ $EUID -ne 0 ]]; then
	sudo=(sudo)
fi

# The same places functions/internal/pgtest.BinDir and scripts/dev.sh look: PG_BIN,
# /usr/lib/postgresql/*/bin, initdb on PATH. A server of one's own (TEST_DATABASE_URL for the
# tests, DATABASE_URL for make dev) needs no binaries.
have_postgres() {
	if [[ $what == test && -n ${TEST_DATABASE_URL:-} ]] || [[ $what == dev && -n ${DATABASE_URL:-} ]]; then
		return 0
	fi
	[[ -n ${PG_BIN:-} && -x ${PG_BIN}/initdb ]] && return 0
	compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null && return 0
	command -v initdb >/dev/null
}

have_chromium() {
	[[ -n ${CHROMIUM:-} && -x ${CHROMIUM} ]] && return 0
	command -v chromium >/dev/null || command -v chromium-browser >/dev/null || command -v google-chrome >/dev/null
}

# cognito-local's dependencies (otplib's @scure/base) are ES modules it loads with require():
# Node.js 20.19 or later (22.12 on 22). With an older node, the npm registry's node package at
# this version goes into /usr/local (npm install -g), ahead of /usr/bin on PATH.
node_version=20.20.2
node_requires_esm() {
	[[ $(node -p 'process.features.require_module === true' 2>/dev/null) == true ]]
}

cognito_local=tools/cognito-local/node_modules/.bin/cognito-local
axe_core=tools/axe-core/node_modules/axe-core/axe.min.js

packages=()
need() { # need PACKAGE WHY
	say "installing $1: $2"
	packages+=("$1")
}

command -v make >/dev/null || need make "the Makefile runs make dev and make test"
have_postgres || need postgresql "PostgreSQL server binaries (initdb, pg_ctl) for the local database of make dev and the tests' throwaway clusters"
if [[ $what == dev ]]; then
	command -v curl >/dev/null || need curl "make dev checks the functions' /healthz with it"
fi
if [[ $what == test ]]; then
	command -v node >/dev/null || need nodejs "Node.js runs cognito-local, the local Cognito of the account tests"
	if { [[ ! -x $cognito_local ]] || [[ ! -f $axe_core ]] || ! node_requires_esm; } && ! command -v npm >/dev/null; then
		need npm "npm installs cognito-local and axe-core at their pinned versions (and a newer Node.js when apt's is too old)"
	fi
	have_chromium || need chromium "headless Chromium for the browser tests of the web site (app/)"
	command -v shellcheck >/dev/null || need shellcheck "the deploy tests lint every shell script of the repository with it"
	command -v jq >/dev/null || need jq "the deploy tests run the workflow's metadata check, which reads the Hasura CLI's JSON with it"
	command -v openssl >/dev/null || need openssl "the deploy tests sign a local token with scripts/local-token.sh"
fi

if ((${#packages[@]} > 0)); then
	if [[ $EUID -ne 0 ]] && ! command -v sudo >/dev/null; then
		say "error: not root and no sudo: install ${packages[*]} yourself (apt-get install ${packages[*]})"
		exit 1
	fi
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${packages[@]}"
fi

# initdb and postgres refuse to run as root: as root, the clusters run as the postgres user.
if [[ $EUID -eq 0 ]] && ! id -u postgres >/dev/null 2>&1; then
	say "creating the postgres system user: PostgreSQL refuses to run as root"
	useradd --system --user-group --home-dir /var/lib/postgresql --shell /usr/sbin/nologin postgres
fi

if [[ $what == test ]]; then
	if ! node_requires_esm; then
		say "installing Node.js $node_version (npm install -g node@$node_version, into /usr/local): cognito-local needs 20.19 or later, node here is $(node --version)"
		"${sudo[@]}" npm install -g --no-audit --no-fund "node@$node_version"
		hash -r
		if ! node_requires_esm; then
			say "error: node on PATH ($(command -v node), $(node --version)) is still too old for cognito-local: put /usr/local/bin before /usr/bin on PATH"
			exit 1
		fi
	fi
	# The versions pinned in each package-lock.json, exactly (npm ci).
	if [[ ! -x $cognito_local ]]; then
		say "installing cognito-local (npm ci in tools/cognito-local): the Cognito the account tests talk to"
		npm ci --prefix tools/cognito-local --no-audit --no-fund
	fi
	if [[ ! -f $axe_core ]]; then
		say "installing axe-core (npm ci in tools/axe-core): the accessibility check of the browser tests"
		npm ci --prefix tools/axe-core --no-audit --no-fund
	fi
fi
