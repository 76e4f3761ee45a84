# shellcheck shell=bash
# Functions of scripts/bench (sourced). Expects: top, build, work, secdir, sink_pid.

bench_build() {
	local log=$top/bench/.meson-setup.log
	# The build the README installs: the Debian package's (debian/rules: dh's meson arguments,
	# dpkg-buildflags with hardening=+all, the same -D options), with werror like every build.
	# One difference: the ldap store's plugin is loaded from this build tree, not /usr/lib.
	if [ ! -f "$build/build.ninja" ]; then
		rm -rf "$build/meson-private" "$build/meson-info"
		(
			eval "$(DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --export=sh)"
			LC_ALL=C.UTF-8 meson setup "$build" --wrap-mode=nodownload --buildtype=plain \
				--prefix=/usr --sysconfdir=/etc --localstatedir=/var \
				--libdir=lib/x86_64-linux-gnu -Dqrencode=enabled -Dsystemd=enabled \
				-Dtests=false -Dldap_plugin="$build/common/mfa_store_ldap.so"
		) >"$log" 2>&1 || { tail -5 "$log" >&2; rm -f "$log"; return 1; }
	fi
	if ! ninja -C "$build" >"$log" 2>&1; then
		tail -20 "$log" >&2
		rm -f "$log"
		echo "scripts/bench: the build failed" >&2
		return 1
	fi
	rm -f "$log"
	make -s -C "$top/bench" BUILD="$build" pam_bench
	if [ -f "$build/common/libmfa.a" ]; then
		make -s -C "$top/bench" BUILD="$build" bench-totp-state
	fi
}

bench_have_totp() {
	[ -f "$build/pam_module/pam_totp.so" ] && [ -x "$top/bench/bench-totp-state" ]
}

bench_modules() {
	bench_have_totp && echo totp
	echo ga oath none
}

# The modules, the list rotated left by (round - 1).
bench_modules_rotated() {
	local -a m
	read -r -a m <<<"$(bench_modules | tr '\n' ' ')"
	local k=$((($1 - 1) % ${#m[@]}))
	echo "${m[@]:k}" "${m[@]:0:k}"
}

# A Unix datagram listener on /dev/log for the run, when nothing listens there: without one
# glibc's syslog() writes every line to the console (see TESTING-NOTES).
bench_sink_start() {
	[ -e /dev/log ] && return 0
	python3 -c '
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("/dev/log")
os.chmod("/dev/log", 0o666)
n = 0
while True:
    s.recv(65536)
' &
	sink_pid=$!
	local i
	for i in $(seq 50); do
		[ -S /dev/log ] && return 0
		sleep 0.1
	done
	echo "scripts/bench: syslog listener did not start" >&2
	return 1
}

bench_sink_stop() {
	if [ -n "${sink_pid:-}" ]; then
		kill "$sink_pid" 2>/dev/null || true
		wait "$sink_pid" 2>/dev/null || true
		rm -f /dev/log
		sink_pid=""
	fi
}

# The fake population of n users (nss_wrapper files), the PAM services and pam_totp's config.
bench_population() {
	local n=$1 pop=$work/pop
	rm -rf "$pop"
	mkdir -m 0700 -p "$pop/pam.d"
	"$top/bench/pam_bench" setup "$pop" "$n" nss
	printf 'auth required %s/pam_permit.so\n' "$secdir" >"$pop/pam.d/bench-none"
	printf 'auth required %s/pam_google_authenticator.so secret=%s/ga/${USER} user=root\n' \
		"$secdir" "$pop" >"$pop/pam.d/bench-ga"
	printf 'auth required %s/pam_oath.so usersfile=%s/oath.users window=1 digits=6\n' \
		"$secdir" "$pop" >"$pop/pam.d/bench-oath"
	printf 'auth required %s/pam_totp.so config=%s/pam_totp.conf\n' \
		"$build/pam_module" "$pop" >"$pop/pam.d/bench-totp"
	local t
	for t in auth account password session; do
		printf '%s required %s/pam_deny.so\n' "$t" "$secdir"
	done >"$pop/pam.d/other"
	# The config the package installs (etc/pam_totp.conf, comments and all: libconfig reads
	# every byte of it at every login), with this run's paths, everyone enforced, no
	# enrollment (every user has a token) and root as the administrators' group.
	sed -e "s|^state_dir = .*|state_dir = \"$pop/state\";|" \
		-e 's|^\tall = false; |\tall = true;  |' \
		-e 's|^\tallow = true; |\tallow = false;|' \
		-e 's|^\tqr = true; |\tqr = false;|' \
		-e 's|^\trecovery_codes = 5; |\trecovery_codes = 0; |' \
		-e 's|^\tadmin_groups = \[ "mfa-admins" \];|\tadmin_groups = [ "root" ];|' \
		-e "s|^\tsocket = .*|\tsocket = \"$work/resetd.sock\";|" \
		"$top/etc/pam_totp.conf" >"$pop/pam_totp.conf"
	chmod 0600 "$pop/pam_totp.conf"
	# every change above took: a line the shipped file no longer has would measure another
	# configuration than the one described
	local want
	for want in "state_dir = \"$pop/state\";" "all = true;" "allow = false;" "qr = false;" \
		"recovery_codes = 0;" 'admin_groups = [ "root" ];' "socket = \"$work/resetd.sock\";"; do
		grep -qF "$want" "$pop/pam_totp.conf" ||
			{ echo "scripts/bench: etc/pam_totp.conf: cannot set $want" >&2; return 1; }
	done
}

# The shell command that writes fresh state of module m for n users (replays are rejected,
# so every run starts clean).
bench_state_cmd() {
	local m=$1 n=$2 pop=$work/pop b=$top/bench
	case $m in
	ga) echo "rm -rf '$pop/ga' && '$b/pam_bench' setup '$pop' $n ga" ;;
	oath) echo "rm -f '$pop'/oath.users* && '$b/pam_bench' setup '$pop' $n oath" ;;
	totp) echo "rm -rf '$pop/state' && mkdir -m 0700 '$pop/state' &&" \
		"'$b/bench-totp-state' '$pop/state' $n" ;;
	*) echo true ;;
	esac
}

bench_state() {
	sh -c "$(bench_state_cmd "$1" "$2")" && sync
}

# Every program of the benchmark runs with a minimal environment, as under sshd, login or
# systemd: nss_wrapper reads its debug-level variable with getenv() for each passwd entry it
# compares, so a large inherited environment would be timed as part of every user lookup.
bench_clean_env() {
	env -i PATH="$PATH" LANG=C "$@"
}

bench_env() {
	bench_clean_env LD_PRELOAD="libpam_wrapper.so libnss_wrapper.so" PAM_WRAPPER=1 \
		PAM_WRAPPER_USE_SYSLOG=1 PAM_WRAPPER_SERVICE_DIR="$work/pop/pam.d" \
		NSS_WRAPPER_PASSWD="$work/pop/passwd" NSS_WRAPPER_GROUP="$work/pop/group" "$@"
}

# Logins to time for module m at n users: pam_oath rewrites its whole users file on every
# login, so above BENCH_FULL users it gets a smaller sample (BENCH_OATH_SAMPLE).
bench_logins() {
	local m=$1 n=$2 logins=$3
	if [ "$m" = oath ] && [ "$n" -gt "$full" ] && [ "$logins" -gt "${BENCH_OATH_SAMPLE:-300}" ]; then
		logins=${BENCH_OATH_SAMPLE:-300}
	fi
	echo "$logins"
}

# One timed run. Below BENCH_REPEAT_MIN users (default 100) the users log in repeatedly
# (BENCH_REPEAT logins in all, default 50), the state being rewritten untimed in between.
bench_run() {
	local m=$1 n=$2 logins=$3 extra="" reset=""
	[ "$m" = none ] && extra=noprompt
	bench_state "$m" "$n" >/dev/null
	if [ "$n" -lt "${BENCH_REPEAT_MIN:-100}" ]; then
		logins=${BENCH_REPEAT:-50}
		reset="$(bench_state_cmd "$m" "$n") >/dev/null && sync"
	fi
	# shellcheck disable=SC2086
	bench_env BENCH_RESET_CMD="$reset" "$top/bench/pam_bench" run "bench-$m" "$m" "$n" \
		"$logins" $extra 2>>"$work/stderr.log" || true
}

# Instructions per login (callgrind) and syscalls per login (strace -c) at n users, each as
# the difference between a run of k+1 logins and a run of 1, divided by k.
bench_profiles() {
	local n=$1 k=200 ks=20 m extra
	bench_population "$n"
	echo "Per-login profile at $n users (difference of a ${k}+1- and a 1-login run):"
	for m in $(bench_modules); do
		extra=""
		[ "$m" = none ] && extra=noprompt
		bench_state "$m" "$n" >/dev/null
		# shellcheck disable=SC2086
		bench_env valgrind -q --tool=callgrind --callgrind-out-file="$work/cg.$m.1" \
			"$top/bench/pam_bench" run "bench-$m" "$m" "$n" 1 $extra >/dev/null 2>&1 || true
		bench_state "$m" "$n" >/dev/null
		# shellcheck disable=SC2086
		bench_env valgrind -q --tool=callgrind --callgrind-out-file="$work/cg.$m.k" \
			"$top/bench/pam_bench" run "bench-$m" "$m" "$n" $((k + 1)) $extra \
			>/dev/null 2>&1 || true
		bench_state "$m" "$n" >/dev/null
		# shellcheck disable=SC2086
		bench_env strace -f -c -o "$work/st.$m.1" "$top/bench/pam_bench" run "bench-$m" \
			"$m" "$n" 1 $extra >/dev/null 2>&1 || true
		bench_state "$m" "$n" >/dev/null
		# shellcheck disable=SC2086
		bench_env strace -f -c -o "$work/st.$m.k" "$top/bench/pam_bench" run "bench-$m" \
			"$m" "$n" $((ks + 1)) $extra >/dev/null 2>&1 || true
		python3 "$top/bench/table.py" profile "$m" "$work/cg.$m.1" "$work/cg.$m.k" "$k" \
			"$work/st.$m.1" "$work/st.$m.k" "$ks"
	done
}

bench_admin() {
	if [ -f "$top/bench/admin.sh" ] && [ -x "$build/resetd/mfa-resetd" ] &&
		[ -x "$build/resetd/mfa-reset" ]; then
		. "$top/bench/admin.sh"
		bench_admin_run
	else
		echo "Admin figures: mfa-resetd/mfa-reset not built in $build; skipped."
	fi
}

# The fleet store's figures (bench/fleet.py) at the given numbers of people, in a temp dir of
# their own: its ldapi:// hosts run as uids 4300-4319, which must reach their configs there.
bench_fleet() {
	local plugin=$build/common/mfa_store_ldap.so log=$top/bench/.fleet-build.log
	if ! command -v slapd >/dev/null || ! command -v slapadd >/dev/null; then
		echo "Fleet figures: slapd or slapadd missing (apt-get install slapd ldap-utils); skipped."
		return 0
	fi
	# the module and the daemon must load the ldap store from this build tree, as
	# scripts/test and scripts/demo point theirs at theirs
	if ! grep -qsF "MFA_LDAP_PLUGIN \"$plugin\"" "$build/mfa-build.h"; then
		meson configure "$build" -Dldap_plugin="$plugin" >"$log" 2>&1 &&
			ninja -C "$build" >>"$log" 2>&1 ||
			{ tail -20 "$log" >&2; rm -f "$log"; return 1; }
		rm -f "$log"
	fi
	make -s -C "$top/bench" BUILD="$build" fleet-login
	if [ ! -f "$plugin" ]; then
		echo "Fleet figures: $plugin not built; skipped."
		return 0
	fi
	fleet_work=$(mktemp -d /var/tmp/pam_totp-fleet.XXXXXX)
	local rc=0
	# in the background, so that a signal to scripts/bench reaches the cleanup at once
	top=$top build=$build secdir=$secdir full=$full sample=$sample rounds=$rounds \
		python3 "$top/bench/fleet.py" "$fleet_work" "$@" &
	fleet_pid=$!
	wait "$fleet_pid" || rc=$?
	fleet_pid=""
	bench_fleet_stop
	return $rc
}

# fleet.py (SIGTERM: it stops its slapd and mfa-resetd itself), then, for a fleet.py killed
# harder, slapd and mfa-resetd by their pid files; then the fleet part's temp dir.
bench_fleet_stop() {
	[ -n "${fleet_work:-}" ] || return 0
	local f pid
	if [ -n "${fleet_pid:-}" ]; then
		kill "$fleet_pid" 2>/dev/null || true
		wait "$fleet_pid" 2>/dev/null || true
		fleet_pid=""
	fi
	for f in fleet-resetd.pid fleet-slapd.pid; do
		pid=$(cat "$fleet_work/$f" 2>/dev/null || true)
		if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
			kill "$pid" 2>/dev/null || true
			sleep 1
		fi
	done
	# a login process killed under us leaves pam_wrapper's /tmp/pam.X (one of 62) behind:
	# those that hold our services
	local d
	for d in /tmp/pam.?; do
		if [ -d "$d" ] && grep -qs -- "$fleet_work/" "$d/bench-ldapi"; then
			rm -rf -- "$d"
		fi
	done
	rm -rf "$fleet_work"
	fleet_work=""
}
