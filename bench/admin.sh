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

# Started with env, not bench_clean_env: $! must be the daemon itself, for bench_resetd_stop.
bench_resetd_start() {
	rm -f "$work/resetd.sock"
	env -i PATH="$PATH" LANG=C LD_PRELOAD=libnss_wrapper.so NSS_WRAPPER_PASSWD="$work/pop/passwd" \
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
	bench_clean_env LD_PRELOAD=libnss_wrapper.so NSS_WRAPPER_PASSWD="$work/pop/passwd" \
		NSS_WRAPPER_GROUP="$work/pop/group" "$build/resetd/mfa-reset" \
		--config "$work/pop/pam_totp.conf" "$@"
}

# Times the reset of users bu000001..n (enrolled, in state dir dir) through a fresh daemon;
# prints the wall time, the summary line and how many states are now "reset".
bench_admin_time_reset() {
	local n=$1 dir=$2 label=$3 t0 t1 rc=0 out=$work/reset.out
	bench_resetd_start || return 0
	t0=$(bench_now)
	seq -f 'bu%06g' 1 "$n" | bench_mfa_reset --yes --from-file - >"$out" 2>&1 || rc=$?
	t1=$(bench_now)
	bench_resetd_stop
	printf '  mfa-reset --yes --from-file - (%d users, %s): %s s, exit %d, last line: %s\n' \
		"$n" "$label" "$(bench_secs "$t0" "$t1")" "$rc" "$(tail -1 "$out")"
	printf '    (%s output lines; states now reset: %s)\n' "$(grep -c . "$out" || true)" \
		"$(grep -l 'status *= *"reset"' "$dir"/* 2>/dev/null | wc -l)"
}

bench_admin_reset() {
	local n=$1
	bench_population "$n"
	bench_state totp "$n"
	bench_admin_time_reset "$n" "$work/pop/state" "state dir on $(findmnt -no FSTYPE -T "$work")"
}

# The same reset with the state dir on a freshly made, journaled ext4 image (loop device), to
# tell the file system's share from ours: ext4 without a journal (as on some VM images)
# scans recently deleted inodes on every inode allocation, and each reset allocates one.
bench_admin_reset_journaled() {
	local n=$1 img=$work/ext4.img mnt=$work/ext4
	bench_population "$n"
	if ! { truncate -s 2G "$img" && mkfs.ext4 -q -F "$img" && mkdir -p -m 0700 "$mnt" &&
		mount -o loop "$img" "$mnt"; } 2>/dev/null; then
		echo "  (journaled ext4 image: no loop device here; that figure is skipped)"
		rm -f "$img"
		return 0
	fi
	mkdir -m 0700 "$mnt/state"
	sed -i "s|^state_dir = .*|state_dir = \"$mnt/state\";|" "$work/pop/pam_totp.conf"
	"$top/bench/bench-totp-state" "$mnt/state" "$n" >/dev/null && sync
	bench_admin_time_reset "$n" "$mnt/state" "state dir on a journaled ext4 image"
	umount "$mnt"
	rm -f "$img"
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
	printf '  mfa-reset --list (%d users): %s s, exit %d, %s lines, %s of them enrolled\n' "$n" \
		"$(bench_secs "$t0" "$t1")" "$rc" "$(wc -l <"$out")" "$(grep -c ' enrolled ' "$out")"
}

bench_admin_run() {
	echo "Admin figures (mfa-resetd in the foreground, root, private socket; nss_wrapper users):"
	bench_admin_reset 1000
	bench_admin_reset 10000
	bench_admin_reset_journaled 10000
	bench_admin_list 100000
}
