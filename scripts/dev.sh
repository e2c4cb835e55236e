#!/usr/bin/env bash
# make dev: a local PostgreSQL in .data/postgres (unless DATABASE_URL is given), the migrations
# and seeds applied, and the functions binary on :8080. Ctrl-C, or SIGTERM to this script or to
# `make` (GNU make passes SIGTERM on to it), stops the binary and the PostgreSQL this script
# started. Running it again reuses the data.
#
# Environment (all optional):
#   DATABASE_URL   use this database instead of starting one (migrations and seeds applied to it)
#   ACTION_SECRET  the X-Action-Secret the binary expects (default dev-action-secret-at-least-32-chars)
#   MEMBER_QR_SECRET  key of the member QR tokens, >= 32 bytes (default: a fixed dev key)
#   PORT           the functions' port (default 8080)
#   DEV_PG_PORT    the local PostgreSQL's TCP port on 127.0.0.1 (default 54329)
#   DEV_PG_DIR     the local PostgreSQL's data folder (default .data/postgres in the checkout)
#   PG_BIN         where initdb, pg_ctl and postgres are (default: newest
#                  /usr/lib/postgresql/*/bin, then initdb on PATH; as the tests find them)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

export ACTION_SECRET=${ACTION_SECRET:-dev-action-secret-at-least-32-chars}
export MEMBER_QR_SECRET=${MEMBER_QR_SECRET:-dev-member-qr-secret-at-least-32-bytes}
export PORT=${PORT:-8080}
pg_port=${DEV_PG_PORT:-54329}
pg_dir=${DEV_PG_DIR:-$root/.data/postgres}
pg_db=loyalty

say() { printf '\033[1m[dev]\033[0m %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

# --- PostgreSQL -------------------------------------------------------------------------------

# pg_bin_dir finds the server binaries the way functions/internal/pgtest.BinDir does.
pg_bin_dir() {
	if [[ -n ${PG_BIN:-} ]]; then
		echo "$PG_BIN"
		return
	fi
	local best="" best_major=-1 d major
	for d in /usr/lib/postgresql/*/bin; do
		[[ -x $d/initdb ]] || continue
		major=$(basename "$(dirname "$d")")
		[[ $major =~ ^[0-9]+$ ]] || continue
		if ((major > best_major)); then
			best=$d best_major=$major
		fi
	done
	if [[ -n $best ]]; then
		echo "$best"
		return
	fi
	if command -v initdb >/dev/null; then
		dirname "$(readlink -f "$(command -v initdb)")"
		return
	fi
	return 1
}

# as_pg runs a command as the user that owns the cluster: postgres when we are root (initdb and
# postgres refuse to run as root), ourselves otherwise.
as_pg() {
	if [[ $EUID -ne 0 ]]; then
		"$@"
	elif command -v runuser >/dev/null; then
		runuser -u postgres -- "$@"
	else
		setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"
	fi
}

started_pg=false
functions_pid=""

# shellcheck disable=SC2317 # called from the EXIT trap
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [[ -n $functions_pid ]] && kill -0 "$functions_pid" 2>/dev/null; then
		say "stopping the functions binary (pid $functions_pid)"
		kill -TERM "$functions_pid" 2>/dev/null || true
		wait "$functions_pid" 2>/dev/null || true
	fi
	if $started_pg; then
		if as_pg "$pg_bin/pg_ctl" -D "$pg_dir" status >/dev/null 2>&1; then
			say "stopping PostgreSQL ($pg_dir)"
			as_pg "$pg_bin/pg_ctl" -D "$pg_dir" -m fast -w stop >/dev/null || true
		else
			say "PostgreSQL ($pg_dir) is already stopped"
		fi
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start_postgres() {
	pg_bin=$(pg_bin_dir) || die "PostgreSQL server binaries not found: install postgresql (Debian: apt-get install postgresql), set PG_BIN, or set DATABASE_URL"
	[[ -x $pg_bin/initdb && -x $pg_bin/pg_ctl ]] || die "no initdb/pg_ctl in $pg_bin"
	if [[ $EUID -eq 0 ]]; then
		id -u postgres >/dev/null 2>&1 ||
			die "running as root needs a 'postgres' user to run PostgreSQL as (useradd --system --user-group postgres)"
	fi

	mkdir -p "$pg_dir"
	if [[ $EUID -eq 0 ]]; then
		chown postgres:postgres "$pg_dir"
		as_pg test -w "$pg_dir" ||
			die "user postgres cannot reach $pg_dir (a parent folder is closed to it): set DEV_PG_DIR or DATABASE_URL"
	fi
	chmod 700 "$pg_dir"

	if [[ -f $pg_dir/PG_VERSION ]]; then
		say "reusing the PostgreSQL data in $pg_dir"
	elif [[ -z $(ls -A "$pg_dir") ]]; then
		say "initdb $pg_dir ($("$pg_bin/initdb" --version))"
		local out
		out=$(as_pg "$pg_bin/initdb" -D "$pg_dir" -U postgres -A trust -E UTF8 --locale=C 2>&1) ||
			die "initdb failed: $out"
	else
		die "$pg_dir is neither empty nor a PostgreSQL data folder; move it away or set DEV_PG_DIR"
	fi

	# The socket lives in the data folder; a path over the kernel's 107 bytes means TCP only.
	local sockets=$pg_dir
	if ((${#pg_dir} + 20 > 107)); then
		say "the data folder's path is too long for a Unix socket: listening on TCP only"
		sockets=""
	fi
	if as_pg "$pg_bin/pg_ctl" -D "$pg_dir" status >/dev/null 2>&1; then
		# Line 4 of postmaster.pid is the port it listens on.
		pg_port=$(sed -n 4p "$pg_dir/postmaster.pid")
		say "PostgreSQL is already running on $pg_dir (port $pg_port): using it, and leaving it running"
	else
		say "starting PostgreSQL on 127.0.0.1:$pg_port${sockets:+ and a Unix socket in $sockets}"
		started_pg=true # before it runs, so that a Ctrl-C during the start stops it too
		if ! as_pg "$pg_bin/pg_ctl" -D "$pg_dir" -l "$pg_dir/postgres.log" -w -t 60 \
			-o "-p $pg_port -c listen_addresses=127.0.0.1 -c unix_socket_directories='$sockets' -c timezone=UTC" \
			start >/dev/null; then
			tail -n 20 "$pg_dir/postgres.log" >&2 || true
			die "PostgreSQL did not start (is port $pg_port taken? set DEV_PG_PORT)"
		fi
	fi

	local psql=("$pg_bin/psql" -X -q -h 127.0.0.1 -p "$pg_port" -U postgres)
	if [[ ! -x $pg_bin/psql ]]; then
		psql=(psql -X -q -h 127.0.0.1 -p "$pg_port" -U postgres)
	fi
	if [[ -z $("${psql[@]}" -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$pg_db'") ]]; then
		say "creating database $pg_db"
		"${psql[@]}" -d postgres -c "CREATE DATABASE $pg_db"
	fi
	export DATABASE_URL="postgres://postgres@127.0.0.1:$pg_port/$pg_db?sslmode=disable"
}

if [[ -n ${DATABASE_URL:-} ]]; then
	say "using DATABASE_URL from the environment; no local PostgreSQL started"
else
	start_postgres
fi

# --- migrations, seeds, the binary --------------------------------------------------------------

say "applying migrations and seeds"
go run ./functions/cmd/migrate -seeds

say "building bin/functions"
go build -o bin/functions ./functions/cmd/functions

say "starting the functions binary on :$PORT"
./bin/functions &
functions_pid=$!

healthy=false
for _ in $(seq 100); do
	if ! kill -0 "$functions_pid" 2>/dev/null; then
		functions_pid=""
		die "the functions binary exited at start (see its log above)"
	fi
	if curl -fsS -o /dev/null "http://127.0.0.1:$PORT/healthz" 2>/dev/null; then
		healthy=true
		break
	fi
	sleep 0.1
done
$healthy || say "warning: /healthz is not 200 yet (is the database reachable?)"
stops="Ctrl-C stops them"
if $started_pg; then
	stops="Ctrl-C stops them and PostgreSQL"
fi

member=5e0c0b8a-0000-4000-8000-0000000000c1
store=5e0c0b8a-0000-4000-8000-000000000001
staff=5e0c0b8a-0000-4000-8000-0000000000a1
cat >&2 <<EOF

Functions are up on http://127.0.0.1:$PORT  ($stops)
  DATABASE_URL=$DATABASE_URL
  ACTION_SECRET=$ACTION_SECRET
  MEMBER_QR_SECRET=$MEMBER_QR_SECRET

Health (200 with the database up, 503 without):
  curl -i http://127.0.0.1:$PORT/healthz

Register a member (as Hasura calls the action for role member):
  curl -sS http://127.0.0.1:$PORT/registerMember -H 'Content-Type: application/json' \\
    -H 'X-Action-Secret: $ACTION_SECRET' \\
    -d '{"action":{"name":"registerMember"},"input":{"input":{"displayName":"Aiko"}},"session_variables":{"x-hasura-role":"member","x-hasura-user-id":"$member"}}'

The member's card (memberCode, and a short-lived qrToken the store app can scan instead):
  curl -sS http://127.0.0.1:$PORT/memberCard -H 'Content-Type: application/json' \\
    -H 'X-Action-Secret: $ACTION_SECRET' \\
    -d '{"action":{"name":"memberCard"},"input":{},"session_variables":{"x-hasura-role":"member","x-hasura-user-id":"$member"}}'

Credit a paid receipt at the demo store as its staff (put the memberCode from an answer above):
  curl -sS http://127.0.0.1:$PORT/earnPoints -H 'Content-Type: application/json' \\
    -H 'X-Action-Secret: $ACTION_SECRET' \\
    -d '{"action":{"name":"earnPoints"},"input":{"input":{"storeId":"$store","receiptNo":"R-0001","amount":2500,"memberCode":"<memberCode>"}},"session_variables":{"x-hasura-role":"staff","x-hasura-user-id":"$staff"}}'

Without the X-Action-Secret header every handler answers 401 {"message":...,"extensions":{"code":"unauthorized"}}.

EOF

# Wait for the binary; a signal interrupts the wait and runs cleanup.
set +e
wait "$functions_pid"
rc=$?
set -e
functions_pid=""
say "the functions binary exited ($rc)"
exit "$rc"
