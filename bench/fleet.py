#!/usr/bin/env python3
"""The fleet-store figures of scripts/bench (issue 13, section 2), against a real slapd.

  fleet.py WORK SIZE...     (scripts/bench sets top, build, secdir, full, sample, rounds)

For each SIZE (people in the directory) one throwaway slapd (tests/ldap/slapd_fixture.py:
its own cn=config, back_mdb, the otp overlay, our schema and the shipped ACLs, ldapi:// in
WORK and ldaps:// on 127.0.0.1 with a CA made there), filled offline by slapadd with one
person and one enrolled token per bench user, with the secrets bench/users.c gives them
(read back from the pam_oath users file that `pam_bench setup` writes), and with cn=Monitor.

1. Logins through bench/pam_bench (the harness of the main table, same environment), rounds
   in a rotated order: pam_totp on the files store, pam_google_authenticator, pam_totp on
   the ldap store over ldapi:// (SASL EXTERNAL as uid 4300, mapped to cn=bench-4300,
   ou=hosts by olcAuthzRegexp, so the shipped ACLs apply; uid 0 would be the rootDN) and
   over ldaps:// to 127.0.0.1 (certificate verified against the run's CA, simple bind as
   cn=host-b,ou=hosts with a password file). For the ldap rows: slapd's CPU per login
   (/proc/PID/stat utime+stime around the run) and its LDAP operations per login
   (cn=Operations,cn=Monitor, completed operations around the run, less what reading the
   monitor itself costs, measured the same way with no login in between).
   Then slapd's CPU and wall time per person search and per token modify (ldapsearch -f,
   ldapmodify: 2,000 of each on one connection as cn=bench-4300).
2. At the largest size: 20 processes at once, each its own SASL EXTERNAL identity (uids
   4300-4319 -> cn=bench-4300 ... cn=bench-4319) over ldapi://, each logging in its own
   people (host k: people k, k+20, k+40, ...), released together at a barrier.
3. mfa-resetd on the ldap store (reset identity cn=resetd,ou=mfa-reset, simple bind over
   ldapi://): `mfa-reset --yes --from-file -` of 10,000 people, and `mfa-reset --list`.
4. A reset through host A's mfa-resetd, then at once a login on host B (ldaps://): is it
   sent to enrollment, and how long after the reset's reply did B decide.
5. The reset of 10,000 other people again, by a daemon whose nss_wrapper passwd holds only
   them: what of 3 is the fixture's NSS.
Environment: BENCH_FLEET_RESET (people reset, default 10000), BENCH_FLEET_HOST_LOGINS
(logins per host in 2, default 100), BENCH_FLEET_TLS_SAMPLE (ldaps:// logins per round,
default 1000).

Prints the table (bench/table.py fleet) and the other figures; exits 1 when any login,
reset or check failed. slapd and mfa-resetd are stopped by pid, also on failure or SIGTERM;
everything lives in WORK (scripts/bench removes it).
"""
import base64
import os
import re
import signal
import subprocess
import sys
import time

TOP = os.environ["top"]
BUILD = os.environ["build"]
sys.path.insert(0, os.path.join(TOP, "tests", "ldap"))
import slapd_fixture as fx  # noqa: E402

BENCH = os.path.join(TOP, "bench")
HOST_UID = 4300  # uids 4300..4319: the hosts of the concurrent part (and 4300 the ldapi row)
HOSTS = 20
SAMPLE = int(os.environ.get("sample", "2000"))
FULL = int(os.environ.get("full", "10000"))
ROUNDS = int(os.environ.get("rounds", "3"))
RESET_N = int(os.environ.get("BENCH_FLEET_RESET", "10000"))
HOST_LOGINS = int(os.environ.get("BENCH_FLEET_HOST_LOGINS", "100"))
# ldaps:// logins cost a full TLS handshake each (~7 ms here): sampled
TLS_SAMPLE = int(os.environ.get("BENCH_FLEET_TLS_SAMPLE", "1000"))
OPS = ("Bind", "Unbind", "Search", "Compare", "Modify", "Modrdn", "Add", "Delete", "Abandon",
       "Extended")
failures = []


def fail(what):
    failures.append(what)
    print("FAILED: " + what, flush=True)


def name(i):
    return "bu%06d" % (i + 1)


def token_dn(i):
    return "cn=%s,ou=tokens,%s" % (name(i), fx.SUFFIX)


def as_uid(uid, cmd, env):
    """cmd as uid with env; setpriv itself runs without it: pam_wrapper preloaded into
    setpriv would make its /tmp/pam.X dir there and exec away without removing it."""
    return (["setpriv", "--reuid=%d" % uid, "--regid=%d" % uid, "--clear-groups", "env", "-i"]
            + ["%s=%s" % kv for kv in env.items()] + cmd, {"PATH": os.environ["PATH"]})


def pid_ticks(pid, children=False):
    """utime + stime of a process (fields 14 and 15 of /proc/PID/stat), in clock ticks; with
    children, plus those of its reaped children (16 and 17)."""
    with open("/proc/%d/stat" % pid) as f:
        v = f.read().rsplit(")", 1)[1].split()
    return int(v[11]) + int(v[12]) + (int(v[13]) + int(v[14]) if children else 0)


def rm_f(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


class BenchSlapd(fx.Slapd):
    """The fixture's slapd, with room for 100,000 people (olcDbMaxSize; mdb's default is
    10 MiB), cn=Monitor readable by root, the bench hosts' uids mapped, and the people."""

    def __init__(self, d, work, n):
        super().__init__(d)
        self.work, self.n = work, n

    def start(self):
        d = self.dir
        os.makedirs(f"{d}/slapd.d")
        os.makedirs(f"{d}/db")
        fx.make_certs(d)
        cfg = fx.config_ldif(d, True)
        root = "gidNumber=0+uidNumber=0,cn=peercred,cn=external,cn=auth"
        for old in ("olcDbDirectory: %s/db\n" % d, "olcAuthzRegexp: {1}"):
            if old not in cfg:
                raise RuntimeError("slapd_fixture's config changed: no %r" % old)
        cfg = cfg.replace("olcDbDirectory: %s/db\n" % d,
                          "olcDbDirectory: %s/db\nolcDbMaxSize: %d\n" % (d, 8 << 30), 1)
        # the bench hosts: uid 43xx over ldapi:// is cn=bench-43xx,ou=hosts
        line = [x for x in cfg.splitlines() if x.startswith("olcAuthzRegexp: {1}")][0]
        cfg = cfg.replace(line + "\n", line + "\nolcAuthzRegexp: {2}^gidNumber=[0-9]+\\+"
                          "uidNumber=(43[0-9][0-9]),cn=peercred,cn=external,cn=auth$ "
                          "cn=bench-$1,ou=hosts,%s\n" % fx.SUFFIX, 1)
        cfg += ("\ndn: olcDatabase={2}monitor,cn=config\nobjectClass: olcDatabaseConfig\n"
                "olcDatabase: {2}monitor\nolcAccess: {0}to * by dn.exact=%s read "
                "by * none\n" % root)
        with open(f"{d}/config.ldif", "w") as f:
            f.write(cfg)
        write_data(f"{d}/data.ldif", self.work, self.n)
        fx.run(["slapadd", "-q", "-n0", "-F", f"{d}/slapd.d", "-l", f"{d}/config.ldif"])
        fx.run(["slapadd", "-q", "-n1", "-F", f"{d}/slapd.d", "-l", f"{d}/data.ldif"])
        os.chmod(d, 0o755)
        self.launch()

    def root_tool(self, prog, args, stdin=None):
        return subprocess.run([prog, "-Y", "EXTERNAL", "-Q", "-H", self.ldapi] + args,
                              input=stdin, capture_output=True, text=True, env=self.env())

    def cpu_ticks(self):
        return pid_ticks(self.pid)

    def ops(self):
        """Completed operations by type, and connections ever opened."""
        p = self.root_tool("ldapsearch", ["-LLL", "-o", "ldif-wrap=no", "-b", "cn=Monitor",
                                          "(|(monitorOpCompleted=*)(monitorCounter=*))",
                                          "monitorOpCompleted", "monitorCounter"])
        if p.returncode != 0:
            raise RuntimeError("cn=Monitor: " + p.stderr)
        out, dn = {}, ""
        for line in p.stdout.splitlines():
            if line.startswith("dn: "):
                dn = line[4:]
            m = re.match(r"monitorOpCompleted: (\d+)", line)
            c = re.match(r"cn=(\w+),cn=Operations,cn=Monitor$", dn)
            if m and c:
                out[c.group(1)] = int(m.group(1))
            m = re.match(r"monitorCounter: (\d+)", line)
            if m and dn == "cn=Total,cn=Connections,cn=Monitor":
                out["connections"] = int(m.group(1))
        return out


def write_data(path, work, n):
    """The fixture's entries plus, per bench user, a person and an enrolled token whose
    secret is the one pam_bench computes codes from (its pam_oath users file: hex)."""
    secrets = {}
    with open(os.path.join(work, "pop", "oath.users")) as f:
        for line in f:
            v = line.split()
            secrets[v[1]] = bytes.fromhex(v[3])
    when = time.strftime("%Y%m%d%H%M%SZ", time.gmtime())
    with open(path, "w") as f:
        f.write(fx.data_ldif() + "\n")
        for k in range(HOSTS):
            f.write("dn: cn=bench-%d,ou=hosts,%s\nobjectClass: applicationProcess\n"
                    "cn: bench-%d\n\n" % (HOST_UID + k, fx.SUFFIX, HOST_UID + k))
        for i in range(n):
            u, tdn = name(i), token_dn(i)
            pdn = "uid=%s,ou=people,%s" % (u, fx.SUFFIX)
            f.write(f"dn: {pdn}\nobjectClass: inetOrgPerson\nobjectClass: posixAccount\n"
                    f"objectClass: oathTOTPUser\nuid: {u}\ncn: {u}\nsn: {u}\n"
                    f"uidNumber: {20000 + i}\ngidNumber: 20000\nhomeDirectory: /nonexistent\n"
                    f"oathTOTPToken: {tdn}\n\n"
                    f"dn: {tdn}\nobjectClass: device\nobjectClass: oathTOTPToken\n"
                    f"objectClass: oathTOTPParams\nobjectClass: pamTotpToken\ncn: {u}\n"
                    f"owner: {pdn}\noathTOTPParams: {tdn}\noathOTPLength: 6\n"
                    f"oathHMACAlgorithm: 1.2.840.113549.2.7\noathTOTPTimeStepPeriod: 30\n"
                    f"oathTOTPTimeStepWindow: 1\n"
                    f"oathSecret:: {base64.b64encode(secrets[u]).decode()}\n"
                    f"oathSecretTime: {when}\noathFailureCount: 0\npamTotpStatus: enrolled\n"
                    f"pamTotpGeneration: 1\n\n")


class Fleet:
    def __init__(self, work):
        self.work = work
        self.pop = os.path.join(work, "pop")
        self.slapd = None
        self.daemon = None
        self.results = os.path.join(work, "fleet-results.txt")
        self.stderr = open(os.path.join(work, "fleet-stderr.log"), "a")

    # --- the population, through bench/lib.sh's own functions
    def lib(self, *args):
        env = dict(os.environ, work=self.work)
        subprocess.run(["bash", "-c", '. "$top/bench/lib.sh"; "$@"', "lib"] + list(args),
                       env=env, check=True, stdout=subprocess.DEVNULL, stderr=self.stderr)

    def population(self, n):
        self.lib("bench_population", str(n))
        subprocess.run([os.path.join(BENCH, "pam_bench"), "setup", self.pop, str(n), "oath"],
                       check=True)
        # the ldapi hosts run as uids 4300..4319: they read the services, users and config
        for p in (self.work, self.pop):
            os.chmod(p, 0o711)
        os.chmod(os.path.join(self.pop, "pam.d"), 0o755)

    def env(self):
        """bench_env of bench/lib.sh, and LDAPNOINIT (no ldap.conf of the host)."""
        return {"PATH": os.environ["PATH"], "LANG": "C",
                "LD_PRELOAD": "libpam_wrapper.so libnss_wrapper.so", "PAM_WRAPPER": "1",
                "PAM_WRAPPER_USE_SYSLOG": "1",
                "PAM_WRAPPER_SERVICE_DIR": os.path.join(self.pop, "pam.d"),
                "NSS_WRAPPER_PASSWD": os.path.join(self.pop, "passwd"),
                "NSS_WRAPPER_GROUP": os.path.join(self.pop, "group"), "LDAPNOINIT": "1"}

    def host_config(self, label, uri, bind, enroll=False):
        """pam_totp.conf of bench_population with store = "ldap" (and, for host A's daemon,
        the reset identity)."""
        s = self.slapd
        with open(os.path.join(self.pop, "pam_totp.conf")) as f:
            text = f.read()
        old = 'socket = "%s/resetd.sock"' % self.work
        if old not in text:
            raise RuntimeError("no %s in %s/pam_totp.conf" % (old, self.pop))
        text = text.replace(old, 'socket = "%s/fleet-resetd.sock"' % self.work)
        if enroll:  # enrollment's allow (whatever the layout of the file bench/lib.sh wrote)
            text, k = re.subn(r"(?m)(^|[{\s])allow = false;", r"\1allow = true;", text)
            if k != 1:
                raise RuntimeError("cannot allow enrollment in %s/pam_totp.conf" % self.pop)
        ldap = ['uri = "%s";' % uri, 'person_base = "ou=people,%s";' % fx.SUFFIX,
                'token_base = "ou=tokens,%s";' % fx.SUFFIX, 'ca_file = "%s";' % s.ca,
                "timeout_ms = 10000;"]
        if bind == "sasl_external":
            ldap.append('bind = "sasl_external";')
        else:
            ldap += ['bind = "simple";', 'bind_dn = "%s";' % fx.host_dn(bind),
                     'bind_password_file = "%s";' % self.secret(bind + ".pw", bind + "-secret")]
        if label == "daemon":
            ldap += ['reset_bind = "simple";', 'reset_bind_dn = "%s";' % fx.RESET_DN,
                     'reset_bind_password_file = "%s";'
                     % self.secret("reset.pw", fx.RESETTER + "-secret")]
        text += 'store = "ldap";\nldap = {\n  %s\n};\n' % "\n  ".join(ldap)
        path = os.path.join(self.pop, "fleet-%s.conf" % label)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o644)
        with open(os.path.join(self.pop, "pam.d", "bench-" + label), "w") as f:
            f.write("auth required %s/pam_module/pam_totp.so config=%s\n" % (BUILD, path))
        return path

    def secret(self, fname, text):
        path = os.path.join(self.pop, fname)
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            f.write(text + "\n")
        return path

    # --- the directory
    def start_slapd(self, n):
        self.slapd = BenchSlapd(os.path.join(self.work, "slapd"), self.work, n)
        t0 = time.monotonic()
        self.slapd.start()
        with open(os.path.join(self.work, "fleet-slapd.pid"), "w") as f:
            f.write("%d\n" % self.slapd.pid)  # scripts/bench's cleanup stops it by this
        self.ldapi_conf = self.host_config("ldapi", self.slapd.ldapi, "sasl_external")
        self.tls_conf = self.host_config("tls", self.slapd.ldaps, "host-b")
        self.host_config("tls-enroll", self.slapd.ldaps, "host-b", enroll=True)
        self.daemon_conf = self.host_config("daemon", self.slapd.ldapi, "host-a")
        print("  directory of %d people: slapadd and start %.1f s (slapd pid %d)"
              % (n, time.monotonic() - t0, self.slapd.pid), flush=True)
        self.check_identities()
        a, b = self.slapd.ops(), self.slapd.ops()
        self.monitor_cost = {k: b[k] - a[k] for k in a}

    def stop_slapd(self):
        if self.slapd:
            self.slapd.stop()
            self.slapd = None
            rm_f(os.path.join(self.work, "fleet-slapd.pid"))
            subprocess.run(["rm", "-rf", os.path.join(self.work, "slapd")], check=False)

    def check_identities(self):
        """Each bench uid binds as its own host DN (not the rootDN), and can run the
        harness and load the module from this tree (a tree only root can enter cannot)."""
        need = [os.path.join(BENCH, "pam_bench"), os.path.join(BENCH, "fleet-login"),
                os.path.join(BUILD, "pam_module", "pam_totp.so"),
                os.path.join(BUILD, "common", "mfa_store_ldap.so")]
        p = subprocess.run(["setpriv", "--reuid=%d" % HOST_UID, "--regid=%d" % HOST_UID,
                            "--clear-groups", "sh", "-c", 'for f; do [ -r "$f" ] || echo "$f";'
                            ' done', "sh"] + need, capture_output=True, text=True)
        if p.stdout.strip() or p.returncode != 0:
            fail("uid %d (the ldapi:// hosts) cannot read %s: the source and build trees must"
                 " be readable by other users" % (HOST_UID, p.stdout.split() or need))
        for k in range(HOSTS):
            p = subprocess.run(["setpriv", "--reuid=%d" % (HOST_UID + k),
                                "--regid=%d" % (HOST_UID + k), "--clear-groups", "ldapwhoami",
                                "-Y", "EXTERNAL", "-Q", "-H", self.slapd.ldapi],
                               capture_output=True, text=True, env=self.slapd.env())
            want = "dn:cn=bench-%d,ou=hosts,%s" % (HOST_UID + k, fx.SUFFIX)
            if p.stdout.strip().lower() != want.lower():
                fail("uid %d is %r over ldapi://, not %s" % (HOST_UID + k, p.stdout.strip()
                                                             or p.stderr.strip(), want))

    def clear_steps(self, users):
        """Untimed: the replay watermark of these tokens cleared (a code works once), as
        lib.sh rewrites the other modules' state before each run."""
        ldif = "".join("dn: %s\nchangetype: modify\nreplace: oathTOTPLastTimeStep\n-\n\n"
                       % token_dn(i) for i in users)
        p = self.slapd.root_tool("ldapmodify", [], stdin=ldif)
        if p.returncode != 0:
            raise RuntimeError("ldapmodify: " + p.stderr[-500:])

    # --- 1. logins through pam_bench
    def pam_bench(self, service, label, n, logins, uid=None):
        cmd = [os.path.join(BENCH, "pam_bench"), "run", service, label, str(n), str(logins)]
        env = self.env()
        if uid is not None:
            cmd, env = as_uid(uid, cmd, env)
        p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=self.stderr,
                           text=True)
        lines = [x for x in p.stdout.splitlines() if x.startswith("RESULT ")]
        if not lines:
            fail("%s at %d people: pam_bench printed no result (exit %d)"
                 % (label, n, p.returncode))
            return "RESULT label=%s users=%d logins=%d ok=0 median_us=0 p99_us=0 cpu_us=0 " \
                   "cpu_mean_us=0 maxrss_kib=0 getpwnam_us=0" % (label, n, logins)
        return lines[0]

    def run_files(self, m, n, logins, fresh):
        if fresh:
            self.lib("bench_state", m, str(n))
        return self.pam_bench("bench-" + m, m, n, logins)

    def run_ldap(self, m, n, logins):
        users = range(n) if logins >= n else [j * n // logins for j in range(logins)]
        self.clear_steps(users)
        s = self.slapd
        o0, c0 = s.ops(), s.cpu_ticks()
        line = self.pam_bench("bench-" + m, m, n, logins,
                              uid=HOST_UID if m == "ldapi" else None)
        c1, o1 = s.cpu_ticks(), s.ops()
        d = {k: (o1[k] - o0[k] - self.monitor_cost.get(k, 0)) / logins for k in o0}
        tick = 1e6 / os.sysconf("SC_CLK_TCK")
        rt = sum(d[k] for k in OPS if k not in ("Unbind", "Abandon"))
        ops = ",".join("%s:%.2f" % (k.lower(), d[k]) for k in OPS if d[k] >= 0.005)
        return line + " slapd_cpu_us=%.1f rt=%.2f conns=%.2f ops=%s" % (
            (c1 - c0) * tick / logins, rt, d["connections"], ops)

    def logins(self, n, fresh_files):
        logins = n if n <= FULL else SAMPLE
        mods = ["totp", "ga", "ldapi", "tls"]
        last_step = None
        for r in range(ROUNDS):
            if not fresh_files and last_step is not None:
                # the files store's 100,000 states take a minute to write: its later rounds
                # start in the next TOTP step instead, so every code is new to its state
                while int(time.time()) // 30 <= last_step:
                    time.sleep(0.2)
            order = mods[r % len(mods):] + mods[:r % len(mods)]
            for m in order:
                if m in ("totp", "ga"):
                    line = self.run_files(m, n, logins, fresh_files or m == "ga" or r == 0)
                    if m == "totp":
                        last_step = int(time.time()) // 30
                else:
                    line = self.run_ldap(m, n, min(logins, TLS_SAMPLE) if m.startswith("tls")
                                         else logins)
                print("  " + line, flush=True)
                with open(self.results, "a") as f:
                    f.write(line + "\n")

    def op_costs(self, n, k=2000):
        """slapd's CPU and the wall time per operation for the two kinds a login's cost in
        the directory can grow with: the person search the module sends (its filter) and a
        modify of the attributes an accepted code writes (with an assertion), k of each on
        one connection as cn=bench-4300 (ldapsearch -f, ldapmodify)."""
        s = self.slapd
        users = [j * n // k for j in range(k)]
        names = os.path.join(self.pop, "fleet-names")
        with open(names, "w") as f:
            f.write("".join(name(i) + "\n" for i in users))
        os.chmod(names, 0o644)
        when = time.strftime("%Y%m%d%H%M%SZ", time.gmtime())
        step = int(time.time()) // 30
        ldif = "".join("dn: %s\nchangetype: modify\nreplace: oathTOTPLastTimeStep\n"
                       "oathTOTPLastTimeStep: %d\n-\nreplace: oathFailureCount\n"
                       "oathFailureCount: 0\n-\nreplace: oathLastLogin\noathLastLogin: %s\n-\n\n"
                       % (token_dn(i), step, when) for i in users)
        as_host = ["setpriv", "--reuid=%d" % HOST_UID, "--regid=%d" % HOST_UID, "--clear-groups"]
        ext = ["-Y", "EXTERNAL", "-Q", "-H", s.ldapi]
        res = []
        for what, cmd, stdin in (
                ("person search", ["ldapsearch"] + ext + ["-LLL", "-b", "ou=people," + fx.SUFFIX,
                                                         "-f", names,
                                                         "(&(objectClass=posixAccount)(uid=%s))",
                                                         "oathTOTPToken"], None),
                ("token modify", ["ldapmodify"] + ext + ["-e", "!assert=(pamTotpStatus=enrolled)"],
                 ldif)):
            c0, t0 = s.cpu_ticks(), time.monotonic()
            p = subprocess.run(as_host + cmd, input=stdin, capture_output=True, text=True,
                               env=s.env())
            c1, t1 = s.cpu_ticks(), time.monotonic()
            if p.returncode != 0:
                fail("%s x%d: %s" % (what, k, p.stderr[-300:]))
            res.append("%s %.0f us CPU, %.0f us wall" % (
                what, (c1 - c0) * 1e6 / os.sysconf("SC_CLK_TCK") / k, (t1 - t0) * 1e6 / k))
        print("  slapd per operation at %d people (%d of each on one connection as "
              "cn=bench-%d): %s" % (n, k, HOST_UID, "; ".join(res)), flush=True)

    # --- 2. twenty hosts at once
    def hosts(self, n):
        per = min(HOST_LOGINS, n // HOSTS)
        users = [k + HOSTS * j for k in range(HOSTS) for j in range(per)]
        self.clear_steps(users)
        s = self.slapd
        o0, c0 = s.ops(), s.cpu_ticks()
        procs = []
        for k in range(HOSTS):  # one after another: pam_wrapper's first pam_start (TESTING-NOTES)
            cmd, env = as_uid(HOST_UID + k, [os.path.join(BENCH, "fleet-login"), "run",
                                             "bench-ldapi", "host%d" % k, str(k), str(per),
                                             str(HOSTS)], self.env())
            p = subprocess.Popen(cmd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=self.stderr, text=True)
            procs.append(p)
            if p.stdout.readline().strip() != "READY":
                fail("host %d did not get ready" % k)
                for q in procs:
                    q.kill()
                    q.wait()
                return
        for p in procs:
            p.stdin.write("\n")
            p.stdin.flush()
        outs = [p.communicate(timeout=600)[0] for p in procs]
        c1, o1 = s.cpu_ticks(), s.ops()
        ok, lat, spans = 0, [], []
        for k, out in enumerate(outs):
            m = re.search(r"^RESULT .* ok=(\d+)", out, re.M)
            ok += int(m.group(1)) if m else 0
            sp = re.search(r"^SPAN (\S+) (\S+)", out, re.M)
            if sp:
                spans.append((float(sp.group(1)), float(sp.group(2))))
            la = re.search(r"^LAT(.*)$", out, re.M)
            lat += [float(x) for x in la.group(1).split()] if la else []
        total = HOSTS * per
        wall = (max(b for a, b in spans) - min(a for a, b in spans)) / 1e6 if spans else 0
        lat.sort()
        p99 = lat[max(0, -(-99 * len(lat) // 100) - 1)] if lat else 0
        med = lat[(len(lat) - 1) // 2] if lat else 0
        tick = 1e6 / os.sysconf("SC_CLK_TCK")
        binds = (o1["Bind"] - o0["Bind"] - self.monitor_cost["Bind"])
        print("  %d hosts at once over ldapi:// (SASL EXTERNAL, uids %d-%d = cn=bench-%d..%d),"
              " %d people each, disjoint, %d people in the directory:"
              % (HOSTS, HOST_UID, HOST_UID + HOSTS - 1, HOST_UID, HOST_UID + HOSTS - 1, per,
                 n))
        print("    %d logins in %.2f s: %.0f logins/s; median %.0f us, p99 %.0f us per login;"
              " slapd CPU %.0f us per login; binds %d; refused or failed: %d"
              % (total, wall, ok / wall if wall else 0, med, p99,
                 (c1 - c0) * tick / max(total, 1), binds, total - ok), flush=True)
        if ok != total or len(spans) != HOSTS:
            fail("%d hosts at once: %d of %d logins succeeded" % (HOSTS, ok, total))

    # --- 3. mfa-resetd on the ldap store
    def start_daemon(self, passwd="passwd"):
        sock = os.path.join(self.work, "fleet-resetd.sock")
        env = {"PATH": os.environ["PATH"], "LANG": "C", "LD_PRELOAD": "libnss_wrapper.so",
               "NSS_WRAPPER_PASSWD": os.path.join(self.pop, passwd),
               "NSS_WRAPPER_GROUP": os.path.join(self.pop, "group"), "LDAPNOINIT": "1"}
        self.daemon = subprocess.Popen(
            [os.path.join(BUILD, "resetd", "mfa-resetd"), "--config", self.daemon_conf,
             "--socket", sock, "--foreground"], env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=self.stderr)
        with open(os.path.join(self.work, "fleet-resetd.pid"), "w") as f:
            f.write("%d\n" % self.daemon.pid)
        for _ in range(200):
            if os.path.exists(sock):
                return True
            if self.daemon.poll() is not None:
                break
            time.sleep(0.05)
        fail("mfa-resetd on the ldap store did not start (see fleet-stderr.log)")
        return False

    def stop_daemon(self):
        if self.daemon and self.daemon.poll() is None:
            self.daemon.terminate()
            self.daemon.wait(timeout=30)
        self.daemon = None
        rm_f(os.path.join(self.work, "fleet-resetd.pid"))

    def mfa_reset(self, *args, passwd="passwd"):
        env = {"PATH": os.environ["PATH"], "LANG": "C", "LD_PRELOAD": "libnss_wrapper.so",
               "NSS_WRAPPER_PASSWD": os.path.join(self.pop, passwd),
               "NSS_WRAPPER_GROUP": os.path.join(self.pop, "group")}
        return subprocess.Popen([os.path.join(BUILD, "resetd", "mfa-reset"), "--config",
                                 self.daemon_conf] + list(args), env=env,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)

    def count(self, flt):
        p = self.slapd.root_tool("ldapsearch", ["-LLL", "-b", "ou=tokens," + fx.SUFFIX,
                                                "-s", "one", flt, "1.1"])
        return p.stdout.count("\ndn: ") + p.stdout.startswith("dn: ")

    def bulk_reset(self, n, first=0, k=None, passwd="passwd", what=""):
        """Resets people first..first+k-1; checks every per-user line and the directory."""
        k = k or min(RESET_N, n // 3)
        before = self.count("(pamTotpStatus=reset)")
        s = self.slapd
        o0, c0, d0 = s.ops(), s.cpu_ticks(), pid_ticks(self.daemon.pid, children=True)
        t0 = time.monotonic()
        p = self.mfa_reset("--yes", "--from-file", "-", passwd=passwd)
        out, _ = p.communicate("".join(name(i) + "\n" for i in range(first, first + k)),
                               timeout=600)
        secs = time.monotonic() - t0
        c1, o1 = s.cpu_ticks(), s.ops()
        # the daemon serves each connection in a child: its CPU shows once it is reaped
        d1, until = d0, time.monotonic() + 3
        while d1 == d0 and time.monotonic() < until:
            time.sleep(0.05)
            d1 = pid_ticks(self.daemon.pid, children=True)
        d = {x: (o1[x] - o0[x] - self.monitor_cost.get(x, 0)) / k for x in OPS}
        lines = out.splitlines()
        oks = sum(1 for x in lines if re.match(r"bu\d{6}: reset$", x))
        reset = self.count("(pamTotpStatus=reset)") - before
        print("  mfa-reset --yes --from-file - (%d people, ldap store over ldapi://%s): %.2f s,"
              " exit %d, last line: %s" % (k, what, secs, p.returncode,
                                           lines[-1] if lines else ""))
        tick = 1e6 / os.sysconf("SC_CLK_TCK")
        print("    %d output lines, %d of them \"<user>: reset\"; tokens newly reset in the "
              "directory: %d; per person: slapd CPU %.0f us, mfa-resetd CPU (its child) "
              "%.0f us, wall %.0f us, LDAP operations %s"
              % (len(lines), oks, reset, (c1 - c0) * tick / k, (d1 - d0) * tick / k,
                 secs * 1e6 / k,
                 ", ".join("%s %.2f" % (x.lower(), d[x]) for x in OPS if d[x] >= 0.005)),
              flush=True)
        if p.returncode != 0 or reset != k or oks != k or not (lines and lines[-1] == (
                "%d succeeded, 0 failed" % k)):
            fail("bulk reset of %d: exit %d, %d reset in the directory" % (k, p.returncode,
                                                                           reset))
        return k

    def bulk_reset_small_nss(self, n, k):
        """The same reset of k other people by a daemon whose nss_wrapper passwd holds only
        them (and root): what of the figure above is the fixture's NSS (nss_wrapper scans
        its passwd file for each target's getpwnam)."""
        with open(os.path.join(self.pop, "passwd-targets"), "w") as f:
            f.write("root:x:0:0:root:/root:/bin/sh\n")
            for i in range(k, 2 * k):
                f.write("%s:x:%d:20000:bench user:/nonexistent:/bin/false\n"
                        % (name(i), 20000 + i))
        self.stop_daemon()
        if self.start_daemon(passwd="passwd-targets"):
            self.bulk_reset(n, k, k, passwd="passwd-targets",
                            what=", nss_wrapper passwd of only those people")
        self.stop_daemon()

    def list_all(self, n, k):
        t0 = time.monotonic()
        p = self.mfa_reset("--list")
        out, _ = p.communicate("", timeout=600)
        secs = time.monotonic() - t0
        lines = out.splitlines()
        enrolled = sum(1 for x in lines if re.match(r"bu\d{6} +enrolled \(since", x))
        reset = sum(1 for x in lines if re.match(r"bu\d{6} +reset pending \(by", x))
        print("  mfa-reset --list (%d tokens, one paged search, pages of 500): %.2f s, exit %d,"
              " %d lines: %d enrolled, %d reset" % (n, secs, p.returncode, len(lines),
                                                    enrolled, reset), flush=True)
        if p.returncode != 0 or enrolled != n - k or reset != k or len(lines) != n + 1:
            fail("--list of %d: exit %d, %d enrolled + %d reset" % (n, p.returncode, enrolled,
                                                                   reset))

    # --- 4. a reset on host A seen by host B
    def propagation(self, n):
        i = n - 1  # outside the bulk reset's people
        self.clear_steps([i])
        before = self.login_one("bench-tls", i)
        p = self.mfa_reset("--yes", name(i))
        p.stdin.close()
        first = p.stdout.readline()
        t_reply = time.monotonic() * 1e6
        probe = subprocess.run([os.path.join(BENCH, "fleet-login"), "probe", "bench-tls-enroll",
                                str(i)], env=self.env(), capture_output=True, text=True)
        rest = p.stdout.read()
        p.wait()
        m = re.search(r"start_us=(\S+) first_message_us=(\S+) enrollment=(\d)", probe.stdout)
        if not m:
            fail("propagation probe: %s %s" % (probe.stdout, probe.stderr[-300:]))
            return
        start, decided, enroll = float(m.group(1)), float(m.group(2)), int(m.group(3))
        print("  reset of %s through host A's mfa-resetd (ldapi://), then at once a login on "
              "host B (ldaps://):" % name(i))
        print("    before the reset B accepted her code: %s; the reset's reply: %s"
              % ("yes" if before else "NO", (first + rest).strip().replace("\n", " | ")))
        print("    B's next login sent to enrollment: %s; %.1f ms from the reset's reply to B's "
              "decision (B's process started %.1f ms after the reply; its login took %.1f ms"
              " to decide)" % ("yes" if enroll else "NO", (decided - t_reply) / 1000,
                               (start - t_reply) / 1000, (decided - start) / 1000), flush=True)
        if not before or not enroll or p.returncode != 0:
            fail("reset seen on host B: accepted before %s, enrollment after %s, exit %d"
                 % (before, enroll, p.returncode))

    def login_one(self, service, i):
        p = subprocess.Popen([os.path.join(BENCH, "fleet-login"), "run", service, "one",
                              str(i), "1", "1"], env=self.env(), stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=self.stderr, text=True)
        out, _ = p.communicate("\n", timeout=60)
        return " ok=1 " in out

    def close(self):
        self.stop_daemon()
        self.stop_slapd()
        self.stderr.close()


def main():
    work = sys.argv[1]
    sizes = [int(x) for x in sys.argv[2:]]
    fleet = Fleet(work)

    def term(signum, frame):
        raise SystemExit("fleet.py: signal %d" % signum)
    signal.signal(signal.SIGTERM, term)
    signal.signal(signal.SIGHUP, term)
    t0 = time.monotonic()
    try:
        print("Fleet store (slapd %s, back_mdb, otp overlay, shipped ACLs):"
              % subprocess.run(["slapd", "-VV"], capture_output=True, text=True)
              .stderr.split()[3], flush=True)
        for n in sizes:
            fleet.population(n)
            fleet.start_slapd(n)
            fresh = n <= FULL
            if not fresh:
                fleet.lib("bench_state", "totp", str(n))
            fleet.logins(n, fresh)
            fleet.op_costs(n)
            if n == sizes[-1]:
                fleet.hosts(n)
                if fleet.start_daemon():
                    k = fleet.bulk_reset(n)
                    fleet.list_all(n, k)
                    fleet.propagation(n)
                    if 2 * k < n:
                        fleet.bulk_reset_small_nss(n, k)
                fleet.stop_daemon()
            fleet.stop_slapd()
    finally:
        fleet.close()
    print()
    rc = subprocess.run([sys.executable, os.path.join(BENCH, "table.py"), "fleet",
                         fleet.results]).returncode
    print("\nFleet part: %.0f s." % (time.monotonic() - t0))
    if failures or rc:
        print("Fleet part FAILED: " + "; ".join(failures or ["failed logins in the table"]))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
