#!/usr/bin/env python3
"""Formats scripts/bench output.

table.py RESULTS            the latency/RSS table from the harness's RESULT lines (several
                            rounds of one module and size are combined: median of medians)
table.py fleet RESULTS      the fleet store's login table (bench/fleet.py's RESULT lines:
                            the files store, GA and the ldap store over ldapi:// and TLS)
table.py profile MODULE CG1 CGK K ST1 STK KS
                            instructions per login (callgrind) and syscalls per login
                            (strace -c), each as (run of K+1 logins - run of 1) / K
"""
import re
import sys

NAMES = {
    "totp": "pam_totp",
    "ga": "pam_google_authenticator",
    "oath": "pam_oath",
    "none": "bare stack (pam_permit)",
}
ORDER = ["totp", "ga", "oath", "none"]


def parse_results(path):
    rows = []
    for line in open(path):
        if not line.startswith("RESULT "):
            continue
        rows.append(dict(kv.split("=", 1) for kv in line.split()[1:]))
    return rows


def median(v):
    v = sorted(v)
    k = len(v) // 2
    return v[k] if len(v) % 2 else (v[k - 1] + v[k]) / 2


def combine(runs):
    """One row from the rounds of one module and size: the median of their medians and of
    their p99s (a round that met a slow disk moment does not decide), the largest RSS, and
    every login's outcome."""
    r = dict(runs[0])
    r["rounds"] = len(runs)
    r["median_us"] = median([float(x["median_us"]) for x in runs])
    r["p99_us"] = median([float(x["p99_us"]) for x in runs])
    r["cpu_us"] = median([float(x["cpu_us"]) for x in runs])
    r["cpu_mean_us"] = median([float(x["cpu_mean_us"]) for x in runs])
    r["maxrss_kib"] = max(int(x["maxrss_kib"]) for x in runs)
    r["ok"] = str(sum(int(x["ok"]) for x in runs))
    r["all_logins"] = str(sum(int(x["logins"]) for x in runs))
    r["getpwnam_us"] = "%.1f" % median([float(x["getpwnam_us"]) for x in runs])
    return r


def table(path):
    runs = {}
    for r in parse_results(path):
        runs.setdefault((r["label"], int(r["users"])), []).append(r)
    by = {k: combine(v) for k, v in runs.items()}
    rows = list(by.values())
    sizes = sorted({int(r["users"]) for r in rows})
    hdr = ("module", "users", "logins", "median us", "p99 us", "ratio to pam_totp",
           "CPU median us", "CPU mean us", "peak RSS KiB", "RSS over bare", "successes")
    out = [hdr]
    for n in sizes:
        base = by.get(("totp", n))
        bare = by.get(("none", n))
        for m in ORDER:
            r = by.get((m, n))
            if not r:
                continue
            med = float(r["median_us"])
            ratio = "%.2f" % (med / float(base["median_us"])) if base else "-"
            rss = int(r["maxrss_kib"])
            delta = "%+d" % (rss - int(bare["maxrss_kib"])) if bare and m != "none" else "-"
            nl, nu = int(r["logins"]), int(r["users"])
            logins = "%dx%s" % (r["rounds"], r["logins"]) + (
                "" if nl == nu else " (sampled)" if nl < nu else " (repeated)")
            out.append((NAMES[m], "%d" % n, logins, "%.0f" % med, "%.0f" % float(r["p99_us"]),
                        ratio, "%.0f" % r["cpu_us"], "%.0f" % r["cpu_mean_us"], "%d" % rss, delta,
                        "%s/%s" % (r["ok"], r["all_logins"])))
    widths = [max(len(row[i]) for row in out) for i in range(len(hdr))]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(hdr, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in out[1:]:
        print("| " + " | ".join(c.rjust(w) if i else c.ljust(w)
                                for i, (c, w) in enumerate(zip(row, widths))) + " |")
    nss = {n: by[("none", n)]["getpwnam_us"] for n in sizes if ("none", n) in by}
    if nss:
        print("\nOne getpwnam() under nss_wrapper (linear scan of its passwd list), median us: " +
              ", ".join("%d users %s" % (n, v) for n, v in nss.items()))
    bad = [r for r in rows if r["ok"] != r["all_logins"]]
    for r in bad:
        print("FAILED LOGINS: %s at %s users: %s/%s succeeded" %
              (NAMES[r["label"]], r["users"], r["ok"], r["all_logins"]))
    return 1 if bad else 0


FLEET_NAMES = {
    "totp": "pam_totp, files store",
    "ga": "pam_google_authenticator",
    "ldapi": "pam_totp, ldap, ldapi://",
    "tls": "pam_totp, ldap, ldaps://",
}


def print_table(hdr, out):
    widths = [max(len(row[i]) for row in [hdr] + out) for i in range(len(hdr))]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(hdr, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in out:
        print("| " + " | ".join(c.rjust(w) if i else c.ljust(w)
                                for i, (c, w) in enumerate(zip(row, widths))) + " |")


def fleet(path):
    """The fleet table: per size, the files store, GA and the ldap store (ldapi://, TLS),
    each the median over its rounds; for the ldap rows slapd's CPU and the LDAP operations
    per login (cn=Monitor), and the ratio to the files store."""
    runs = {}
    for r in parse_results(path):
        runs.setdefault((r["label"], int(r["users"])), []).append(r)
    by = {}
    for k, v in runs.items():
        r = combine(v)
        for key in ("slapd_cpu_us", "rt", "conns"):
            if key in v[0]:
                r[key] = median([float(x[key]) for x in v])
        by[k] = r
    hdr = ("store", "people", "logins", "median us", "p99 us", "x files store", "CPU us",
           "slapd CPU us", "LDAP ops/login", "conns/login", "successes")
    out = []
    for n in sorted({n for _, n in by}):
        base = by.get(("totp", n))
        for m in FLEET_NAMES:
            r = by.get((m, n))
            if not r:
                continue
            med = float(r["median_us"])
            ratio = "%.2f" % (med / float(base["median_us"])) if base else "-"
            nl = int(r["logins"])
            logins = "%dx%d" % (r["rounds"], nl) + (" (sampled)" if nl < n else "")
            ops = "-"
            if "ops" in r:
                ops = "%.2f (%s)" % (r["rt"], ", ".join(
                    "%s %s" % tuple(o.split(":")) for o in r["ops"].split(",") if o))
            out.append((FLEET_NAMES[m], "%d" % n, logins, "%.0f" % med,
                        "%.0f" % float(r["p99_us"]), ratio, "%.0f" % r["cpu_us"],
                        "%.0f" % r["slapd_cpu_us"] if "slapd_cpu_us" in r else "-", ops,
                        "%.2f" % r["conns"] if "conns" in r else "-",
                        "%s/%s" % (r["ok"], r["all_logins"])))
    print_table(hdr, out)
    bad = [r for r in by.values() if r["ok"] != r["all_logins"]]
    for r in bad:
        print("FAILED LOGINS: %s at %s people: %s/%s succeeded" %
              (FLEET_NAMES[r["label"]], r["users"], r["ok"], r["all_logins"]))
    return 1 if bad else 0


def cg_total(path):
    try:
        for line in open(path):
            if line.startswith("summary:") or line.startswith("totals:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def strace_counts(path):
    counts = {}
    try:
        lines = open(path).read().splitlines()
    except OSError:
        return counts
    for line in lines:
        f = line.split()
        if len(f) >= 5 and re.match(r"^[0-9.]+$", f[0]) and f[-1] != "total":
            counts[f[-1]] = int(f[3])
    return counts


def profile(m, cg1, cgk, k, st1, stk, ks):
    a, b = cg_total(cg1), cg_total(cgk)
    ir = "%.0f" % ((b - a) / int(k)) if a is not None and b is not None else "n/a"
    c1, ck = strace_counts(st1), strace_counts(stk)
    per = {}
    for name in set(c1) | set(ck):
        d = (ck.get(name, 0) - c1.get(name, 0)) / int(ks)
        if d >= 0.05:
            per[name] = d
    top = sorted(per.items(), key=lambda x: -x[1])
    keys = ("fsync", "fdatasync", "rename", "renameat", "renameat2", "openat", "read",
            "pread64", "write", "pwrite64", "fcntl", "flock", "sendto", "mmap")
    shown = ", ".join("%s %.1f" % (s, per[s]) for s in keys if s in per)
    print("  %-26s %s instructions/login; syscalls/login: %s" % (NAMES[m], ir, shown))
    print("  %-26s all syscalls/login: %s" % ("", ", ".join("%s %.1f" % kv for kv in top)))


if __name__ == "__main__":
    if len(sys.argv) == 2:
        sys.exit(table(sys.argv[1]))
    if len(sys.argv) == 3 and sys.argv[1] == "fleet":
        sys.exit(fleet(sys.argv[2]))
    if len(sys.argv) == 9 and sys.argv[1] == "profile":
        profile(*sys.argv[2:])
        sys.exit(0)
    sys.stderr.write(__doc__)
    sys.exit(2)
