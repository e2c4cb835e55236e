#!/usr/bin/env bash
# Shows that `make test` works on a fresh Debian machine without PostgreSQL, Node.js or
# Chromium: scripts/install-deps.sh installs them, then every test passes (issue 16).
#
#   sudo scripts/fresh-machine-test.sh     (root; exits with make test's status)
#
# Nothing on the real system changes. In a private mount and PID namespace (unshare) it builds
# a throwaway root: an overlay whose lower layer is a read-only bind of the real / and whose
# upper layer is a tmpfs (size FRESH_TMPFS_SIZE, default 16g), with its own /proc, /sys, /dev
# (new /dev/pts, /dev/shm), /tmp and /run, and a copy of /etc/resolv.conf. Inside it (chroot):
#
#   - apt-get purge --autoremove every installed postgresql*, chromium*, nodejs and npm package;
#     what the same names left outside apt (on PATH, e.g. /usr/local/bin/initdb, or
#     /usr/local/lib/node_modules, the npm cache, PostgreSQL's data and config folders) and the
#     postgres user are removed too, so initdb, pg_ctl, postgres, node, npm and chromium are gone
#     (checked: it fails loudly when one is still there);
#   - a fresh `git clone` of this repository's committed HEAD (FRESH_REF picks another commit),
#     without tools/cognito-local/node_modules or tools/axe-core/node_modules;
#   - `make test` in that clone, with a clean environment (PATH, HOME=/root, the Go variables).
#
# Go itself (the go on PATH), its module cache and build cache stay, as do git, make and the
# rest of the machine: the issue is about PostgreSQL, Node.js and Chromium. apt downloads
# packages from the machine's apt sources, npm from the npm registry. /usr/sbin/policy-rc.d
# (exit 101, as in Debian's container images) keeps apt from starting PostgreSQL's service.
# At exit (also on failure or Ctrl-C) the namespace ends: every process started inside is
# killed, the mounts go away with it, and the temporary folder is removed.
set -euo pipefail

say() { printf '[fresh-machine] %s\n' "$*" >&2; }
die() {
	say "error: $*"
	exit 1
}

# Runs inside the chroot: purge, check, clone, make test.
in_chroot() {
	local repo=$1 commit=$2
	local clone=/srv/fresh-machine-test/repo
	export DEBIAN_FRONTEND=noninteractive

	if [[ ! -e /usr/sbin/policy-rc.d ]]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
	fi

	local pkgs=()
	mapfile -t pkgs < <(dpkg-query -W -f '${binary:Package}\t${db:Status-Status}\n' |
		awk -F'\t' '$2 != "not-installed" && ($1 ~ /^(postgresql|chromium)/ || $1 ~ /^(nodejs|npm)(:.*)?$/) { print $1 }')
	if ((${#pkgs[@]} > 0)); then
		say "purging ${pkgs[*]} (and what only they needed)"
		apt-get purge -y -q --autoremove "${pkgs[@]}"
	fi

	# What the same tools left outside apt: hidden in the throwaway root only.
	local name dir path dirs=()
	IFS=: read -ra dirs <<<"$PATH"
	for name in initdb pg_ctl postgres node nodejs npm npx corepack chromium chromium-browser google-chrome; do
		for dir in "${dirs[@]}"; do
			if [[ -e $dir/$name || -L $dir/$name ]]; then
				say "removing $dir/$name (not from apt)"
				rm -f "$dir/$name"
			fi
		done
	done
	for path in /usr/lib/postgresql /etc/postgresql /etc/postgresql-common /var/lib/postgresql /var/log/postgresql \
		/usr/lib/node_modules /usr/local/lib/node_modules /usr/local/include/node /root/.npm /root/.nvm \
		/usr/lib/chromium /root/.cache/chromium /root/.config/chromium; do
		if [[ -e $path ]]; then
			say "removing $path"
			rm -rf "$path"
		fi
	done
	if id -u postgres >/dev/null 2>&1; then
		say "removing the postgres user"
		userdel postgres
		if getent group postgres >/dev/null; then
			groupdel postgres
		fi
	fi

	hash -r
	local left=()
	for name in initdb pg_ctl postgres node npm chromium chromium-browser google-chrome; do
		if path=$(command -v "$name"); then
			left+=("$name ($path)")
		fi
	done
	if compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
		left+=("$(compgen -G '/usr/lib/postgresql/*/bin/initdb' | head -n1)")
	fi
	if ((${#left[@]} > 0)); then
		die "still there after the purge: ${left[*]}"
	fi
	say "gone: initdb, pg_ctl, postgres, node, npm, chromium"

	say "cloning $repo at $commit into $clone"
	mkdir -p "$(dirname "$clone")"
	git clone -q --no-local --no-checkout "$repo" "$clone"
	git -C "$clone" -c advice.detachedHead=false checkout -q --detach "$commit"
	rm -rf "$clone/tools/cognito-local/node_modules" "$clone/tools/axe-core/node_modules"
	for path in "$clone/tools/cognito-local/node_modules" "$clone/tools/axe-core/node_modules"; do
		[[ ! -e $path ]] || die "$path is still there"
	done

	say "make test (go: $(go version))"
	local start=$SECONDS rc=0
	(cd "$clone" && make test) || rc=$?
	local took=$((SECONDS - start))
	say "make test exited $rc after $((took / 60))m$((took % 60))s"
	return "$rc"
}

# Runs in the private mount and PID namespace (PID 1 there): builds the throwaway root.
in_namespace() {
	local tmp=$1 repo=$2 commit=$3 go_bin=$4
	local root=$tmp/root
	ns_tmp=$tmp
	trap 'umount -R -l "$ns_tmp" 2>/dev/null || true' EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM

	mount -t tmpfs -o "mode=0755,size=${FRESH_TMPFS_SIZE:-16g}" fresh-machine "$tmp"
	mkdir "$tmp/lower" "$tmp/upper" "$tmp/work" "$root"
	# The real / on its own (no submounts), read-only: the overlay's lower layer.
	mount --bind / "$tmp/lower"
	mount -o remount,bind,ro "$tmp/lower"
	mount -t overlay fresh-root -o "lowerdir=$tmp/lower,upperdir=$tmp/upper,workdir=$tmp/work" "$root"
	mount -t proc proc "$root/proc"
	mount --rbind /sys "$root/sys"
	mount --bind /dev "$root/dev"
	mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5 devpts "$root/dev/pts"
	mount -t tmpfs -o mode=1777 shm "$root/dev/shm"
	mount -t tmpfs -o mode=1777 tmp "$root/tmp"
	mount -t tmpfs -o mode=0755 run "$root/run"
	rm -f "$root/etc/resolv.conf"
	cp -L /etc/resolv.conf "$root/etc/resolv.conf"
	cp "${BASH_SOURCE[0]}" "$root/run/fresh-machine-test.sh"

	local env=(
		HOME=/root USER=root LOGNAME=root LANG=C.UTF-8 "TERM=${TERM:-dumb}"
		"PATH=$go_bin:/root/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
		"GOPATH=$("$go_bin/go" env GOPATH)" "GOMODCACHE=$("$go_bin/go" env GOMODCACHE)" "GOCACHE=$("$go_bin/go" env GOCACHE)"
	)
	local v
	for v in GOPROXY GOFLAGS GOPRIVATE GONOPROXY GONOSUMDB GOSUMDB GOTOOLCHAIN \
		http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY; do
		if [[ -n ${!v:-} ]]; then
			env+=("$v=${!v}")
		fi
	done
	local rc=0
	chroot "$root" /usr/bin/env -i "${env[@]}" bash /run/fresh-machine-test.sh --chroot "$repo" "$commit" || rc=$?
	return "$rc"
}

case ${1:-} in
--chroot)
	in_chroot "$2" "$3"
	exit
	;;
--namespace)
	in_namespace "$2" "$3" "$4" "$5"
	exit
	;;
"") ;;
*)
	echo "usage: $0   (as root; FRESH_REF=commit, FRESH_TMPFS_SIZE=16g)" >&2
	exit 2
	;;
esac

[[ $EUID -eq 0 ]] || die "run it as root (mounts, chroot, apt in the throwaway root)"
for cmd in unshare mount chroot git go; do
	command -v "$cmd" >/dev/null || die "$cmd is missing"
done
script=$(realpath "${BASH_SOURCE[0]}")
repo=$(git -C "$(dirname "$script")/.." rev-parse --show-toplevel)
commit=$(git -C "$repo" rev-parse --verify "${FRESH_REF:-HEAD}^{commit}")
go_bin=$(dirname "$(realpath "$(command -v go)")")

tmp=$(mktemp -d /tmp/fresh-machine.XXXXXX)
# The tmpfs on it exists in the namespace only: here it is an empty folder.
trap 'rmdir "$tmp" 2>/dev/null || say "warning: $tmp is left (not empty)"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say "throwaway root in a private namespace (tmpfs on $tmp); testing $commit"
start=$SECONDS
rc=0
unshare --mount --propagation private --pid --fork --kill-child \
	bash "$script" --namespace "$tmp" "$repo" "$commit" "$go_bin" || rc=$?
took=$((SECONDS - start))
say "done after $((took / 60))m$((took % 60))s: exit status $rc"
exit "$rc"
