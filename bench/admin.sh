# shellcheck shell=bash
# Admin-side figures of scripts/bench (sourced by bench/lib.sh): wall time of
# `mfa-reset --yes --from-file -` for 1,000 and 10,000 enrolled users through a running
# mfa-resetd, and of `mfa-reset --list` over 100,000 users. The daemon runs as root in the
# foreground on a private socket, with the state dir in the run's temp dir and the users
# from nss_wrapper (as are the users of the login runs).

bench_now() {
	date +%s.%N
}

bench_secs() {
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'
}

bench_resetd_start() {
	rm -f "$work/resetd.sock"
	env LD_PRELOAD=libnss_wrapper.so NSS_WRAPPER_PASSWD="$work/pop/passwd" \
		NSS_WRAPPER_GROUP="$work/pop/group" "$build/resetd/mfa-resetd" \
		--config "$work/pop/pam_totp.conf" --socket "$work/resetd.sock" --foreground \
		2>>"$work/resetd.log" &
	resetd_pid=$!
	local i
	for i in $(seq 100); do
		[ -S "$work/resetd.sock" ] && return 0
		sleep 0.05
	done
	echo "scripts/bench: mfa-resetd did not start (see its log below)" >&2
	tail -5 "$work/resetd.log" >&2
	return 1
}

bench_resetd_stop() {
	[ -n "${resetd_pid:-}" ] || return 0
	kill "$resetd_pid" 2>/dev/null || true
	wait "$resetd_pid" 2>/dev/null || true
	resetd_pid=""
}

bench_mfa_reset() {
	env LD_PRELOAD=libnss_wrapper.so NSS_WRAPPER_PASSWD="$work/pop/passwd" \
		NSS_WRAPPER_GROUP="$work/pop/group" "$build/resetd/mfa-reset" \
		--config "$work/pop/pam_totp.conf" "$@"
}

# Resets all n users of an n-user population; prints the wall time and the summary line.
bench_admin_reset() {
	local n=$1 t0 t1 rc=0 out
	bench_population "$n"
	bench_state totp "$n"
	bench_resetd_start || return 0
	out=$work/reset.$n.out
	t0=$(bench_now)
	seq -f 'bu%06g' 1 "$n" | bench_mfa_reset --yes --from-file - >"$out" 2>&1 || rc=$?
	t1=$(bench_now)
	bench_resetd_stop
	local ok
	ok=$(grep -c . "$out" || true)
	printf '  mfa-reset --yes --from-file - (%d users): %s s, exit %d, last line: %s\n' \
		"$n" "$(bench_secs "$t0" "$t1")" "$rc" "$(tail -1 "$out")"
	printf '    (%s output lines; states now reset: %s)\n' "$ok" \
		"$(grep -l 'status *= *"reset"' "$work/pop/state"/* 2>/dev/null | wc -l)"
}

bench_admin_list() {
	local n=$1 t0 t1 rc=0 out=$work/list.out
	bench_population "$n"
	bench_state totp "$n"
	bench_resetd_start || return 0
	t0=$(bench_now)
	bench_mfa_reset --list >"$out" 2>&1 || rc=$?
	t1=$(bench_now)
	bench_resetd_stop
	printf '  mfa-reset --list (%d users): %s s, exit %d, %s lines\n' "$n" \
		"$(bench_secs "$t0" "$t1")" "$rc" "$(wc -l <"$out")"
}

bench_admin_run() {
	echo "Admin figures (mfa-resetd in the foreground, root, private socket; nss_wrapper users):"
	bench_admin_reset 1000
	bench_admin_reset 10000
	bench_admin_list 100000
}
