#!/usr/bin/env python3
"""tests/resetd: the real mfa-resetd and the real mfa-reset over a real Unix socket.

The daemon runs under nss_wrapper with the users and groups of this directory; clients run
as those users' uids through setpriv. One case per meson test:
    resetd_test.py CASE MFA_RESETD MFA_RESET STATE_TOOL SOURCE_DIR
"""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

CASE, RESETD, RESET, TOOL, SRCDIR = sys.argv[1:6]
UIDS = {'root': 0, 'admin1': 2001, 'admin2': 2002, 'alice': 2010, 'bob': 2011,
        'carol': 2012, 'dave': 2013, 'boss': 2020, 'mallory': 2030, 'unknown': 2050,
        'john smith': 2060, 'anna': 2070, 'ghost': 4242}  # ghost: no passwd entry


class Fail(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Fail(msg)


class Env:
    def __init__(self, passwd=None, group=None):
        self.tmp = tempfile.mkdtemp(prefix='resetd-test-')
        os.chmod(self.tmp, 0o755)  # the socket must be reachable by the test uids
        self.state = os.path.join(self.tmp, 'state')
        os.mkdir(self.state, 0o700)
        self.sock = os.path.join(self.tmp, 'resetd.sock')
        self.log = os.path.join(self.tmp, 'daemon.log')
        self.passwd = passwd or os.path.join(SRCDIR, 'passwd')
        self.group = group or os.path.join(SRCDIR, 'group')
        self.cfg = os.path.join(self.tmp, 'pam_totp.conf')
        with open(self.cfg, 'w') as f:
            f.write('state_dir = "%s";\n' % self.state)
            f.write('enforce = { groups = [ "mfa-users" ]; };\n')
            f.write('reset = { admin_groups = [ "mfa-admins" ]; socket = "%s";\n'
                    '          allow_self_reset = false; protected_groups = [ "executives" ]; };\n'
                    % self.sock)
        self.daemon = None
        self.wrapped = False

    def start(self, preload='', wrap=(), extra=()):
        env = dict(os.environ)
        pre = ' '.join(x for x in (env.get('LD_PRELOAD', ''), preload) if x)
        env['LD_PRELOAD'] = (pre + ' ' if pre else '') + 'libnss_wrapper.so'
        env['NSS_WRAPPER_PASSWD'] = self.passwd
        env['NSS_WRAPPER_GROUP'] = self.group
        # RTLD_DEEPBIND cannot work with the sanitizer runtime (ASan build).
        env['NSS_WRAPPER_DISABLE_DEEPBIND'] = '1'
        # RESETD_TEST_WRAP="valgrind --error-exitcode=99 ..." runs every daemon under it.
        wrap = list(wrap) or os.environ.get('RESETD_TEST_WRAP', '').split()
        self.env = env
        self.wrapped = bool(wrap)
        self.daemon = subprocess.Popen(
            list(wrap) + [RESETD, '--config', self.cfg, '--socket', self.sock, '--foreground',
                          '--log-stderr'] + list(extra), env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=open(self.log, 'w'))
        for _ in range(500):
            check(self.daemon.poll() is None, 'daemon exited: ' + self.logtext())
            if 'event=start' in self.logtext():
                break
            time.sleep(0.01)
        check(os.path.exists(self.sock), 'daemon did not create its socket')
        mode = os.stat(self.sock).st_mode & 0o777
        check(mode == 0o666, 'socket mode %o, want 666' % mode)

    def stop(self):
        """SIGTERM to the daemon itself (under strace, not to strace, which would wait)."""
        m = re.findall(r'event=start result=ok .*pid=(\d+)', self.logtext())
        if self.wrapped and m:
            os.kill(int(m[-1]), 15)
        else:
            self.daemon.terminate()
        self.daemon.wait(timeout=60)

    def close(self):
        if self.daemon:
            alive = self.daemon.poll() is None
            self.stop()
            check(alive, 'the daemon died during the test: ' + self.logtext())
        shutil.rmtree(self.tmp, ignore_errors=True)

    def logtext(self):
        with open(self.log, errors='replace') as f:
            return f.read()

    def run(self, user, *args, input=None, timeout=120):
        uid = UIDS[user]
        cmd = ['setpriv', '--reuid=%d' % uid, '--regid=%d' % uid, '--clear-groups',
               RESET, '--socket', self.sock] + list(args)
        # A new session: no controlling terminal, as under cron or a pipe.
        return subprocess.run(cmd, input=input, capture_output=True, text=True,
                              start_new_session=True, timeout=timeout)

    def tool(self, *args):
        p = subprocess.run([TOOL, self.state] + list(args), capture_output=True, text=True)
        check(p.returncode == 0, 'state-tool %s: %s' % (args, p.stderr))
        return p.stdout

    def seed(self, *users):
        self.tool('seed', *users)

    def show(self, user):
        return dict(kv.split('=', 1) for kv in self.tool('show', user).split())

    def raw(self, user):
        with open(os.path.join(self.state, user), 'rb') as f:
            return f.read()


def expect(p, rc, what):
    check(p.returncode == rc, '%s: exit %d, want %d\nstdout: %s\nstderr: %s'
          % (what, p.returncode, rc, p.stdout, p.stderr))


def assert_reset(e, user, by):
    s = e.show(user)
    check(s['status'] == 'reset', '%s: status %s, want reset' % (user, s['status']))
    check(s['secret'] == 'no' and s['recovery'] == '0', '%s: secret or codes kept' % user)
    check(s['reset_by'] == by, '%s: reset_by %s, want %s' % (user, s['reset_by'], by))
    check(int(s['reset_at']) > time.time() - 600, '%s: reset_at not set' % user)


def log_has(e, pattern):
    return re.search(pattern, e.logtext()) is not None


def case_admin_resets_one(e):
    e.seed('alice', 'bob')
    bob = e.raw('bob')
    secret = re.search(rb'secret = "hex:([0-9a-f]+)"', e.raw('alice')).group(1).decode()
    st = e.run('admin1', '--json', '--status', 'alice')
    expect(st, 0, 'status before the reset')
    check(secret not in st.stdout, 'status sent the secret')
    p = e.run('admin1', '--yes', 'alice')
    expect(p, 0, 'admin resets alice')
    check(secret not in p.stdout + e.logtext(), 'secret sent or logged')
    check('alice: reset' in p.stdout, 'no result line: ' + p.stdout)
    check('1 succeeded, 0 failed' in p.stdout, 'no summary: ' + p.stdout)
    assert_reset(e, 'alice', 'admin1')
    check(e.raw('bob') == bob, 'bob was touched')
    check(log_has(e, r"event=reset .*admin1.*uid=2001.*alice.*result=ok"),
          'no audit line: ' + e.logtext())


def case_non_admin_refused(e):
    e.seed('alice')
    before = e.raw('alice')
    p = e.run('mallory', '--yes', 'alice')
    expect(p, 3, 'non-admin')
    check('not authorized' in p.stderr, 'no clear refusal: ' + p.stderr)
    check(e.raw('alice') == before, 'state changed by a refused request')
    check(log_has(e, r"event=reset .*mallory.*uid=2030.*result=refused.*reason=not-admin"),
          'refusal not logged: ' + e.logtext())


def case_alias_target_resets_the_account(e):
    # NSS answering for "ALICE" with alice's entry (a case-insensitive directory): the reset
    # must reach alice's state, the one her logins use, not create one under "ALICE".
    e.daemon.terminate()
    e.daemon.wait()
    e.start(preload=os.environ['NSS_ALIAS_LIB'])
    e.seed('alice')
    p = e.run('admin1', '--yes', 'ALICE')
    expect(p, 0, 'reset through another spelling')
    assert_reset(e, 'alice', 'admin1')
    check(not os.path.exists(os.path.join(e.state, 'ALICE')), 'state made for the alias')
    check(log_has(e, r"event=reset .*admin1.*target='alice'.*result=ok"),
          'audit line does not name the account: ' + e.logtext())
    st = e.run('admin1', '--status', 'ALICE')
    expect(st, 0, 'status through another spelling')
    check('reset' in st.stdout, 'status did not show alice\'s state: ' + st.stdout)


def case_root_allowed(e):
    e.seed('alice')
    expect(e.run('root', '--yes', 'alice'), 0, 'root')
    assert_reset(e, 'alice', 'root')


def case_self_reset_refused(e):
    e.seed('admin1')
    before = e.raw('admin1')
    p = e.run('admin1', '--yes', 'admin1')
    expect(p, 1, 'self reset')
    check('self-reset' in p.stdout, 'no self-reset error: ' + p.stdout)
    check(e.raw('admin1') == before, 'self reset changed the state')
    check(log_has(e, r"result=refused.*reason=self-reset"), 'not logged: ' + e.logtext())


def case_protected_refused(e):
    e.seed('boss')
    before = e.raw('boss')
    p = e.run('admin1', '--yes', 'boss')
    expect(p, 1, 'protected target')
    check('protected' in p.stdout, 'no protected error: ' + p.stdout)
    check(e.raw('boss') == before, 'protected user changed')
    expect(e.run('root', '--yes', 'boss'), 0, 'root resets a protected user')
    assert_reset(e, 'boss', 'root')


def case_unknown_among_valid(e):
    e.seed('alice', 'bob')
    p = e.run('admin1', '--yes', '--', 'alice', 'nosuchuser', 'bob', '-bad-name')
    expect(p, 1, 'unknown user among valid ones')
    check(re.search(r'nosuchuser: failed: .*unknown-user', p.stdout), 'no error: ' + p.stdout)
    check(re.search(r'-bad-name: failed: .*invalid-name', p.stdout), 'no error: ' + p.stdout)
    check('2 succeeded, 2 failed' in p.stdout, 'summary: ' + p.stdout)
    assert_reset(e, 'alice', 'admin1')
    assert_reset(e, 'bob', 'admin1')
    check('nosuchuser' not in e.logtext(), 'unknown name logged (could be a password)')


def case_group_reset(e):
    e.seed('alice', 'bob', 'carol', 'dave')
    keep = {u: e.raw(u) for u in ('bob', 'dave')}
    p = e.run('admin1', '--yes', '--group', 'contractors')
    expect(p, 0, '--group contractors')
    assert_reset(e, 'alice', 'admin1')
    assert_reset(e, 'carol', 'admin1')
    for u, b in keep.items():
        check(e.raw(u) == b, u + ' (not a member) was touched')
    p = e.run('admin1', '--yes', '--group', 'no-such-group', '--group', 'contractors')
    expect(p, 1, 'unknown group')
    check(re.search(r'^group:no-such-group: failed: no such group', p.stdout, re.M), p.stdout)
    check('2 succeeded, 1 failed' in p.stdout, p.stdout)


def case_member_alone(e):
    e.seed('alice', 'bob', 'dave')
    keep = {u: e.raw(u) for u in ('bob', 'dave')}
    expect(e.run('admin1', '--yes', 'alice'), 0, 'reset one member of mfa-users')
    assert_reset(e, 'alice', 'admin1')
    for u, b in keep.items():
        check(e.raw(u) == b, 'other member %s of the enforcing group was touched' % u)


def case_from_file_stdin(e):
    e.seed('alice', 'bob', 'carol')
    carol = e.raw('carol')
    p = e.run('admin1', '--yes', '--from-file', '-', input='alice\n# comment\n\n  bob  \n')
    expect(p, 0, '--from-file -')
    check('2 succeeded' in p.stdout, p.stdout)
    assert_reset(e, 'alice', 'admin1')
    assert_reset(e, 'bob', 'admin1')
    check(e.raw('carol') == carol, 'carol touched')


def case_no_tty_refuses(e):
    e.seed('alice')
    before = e.raw('alice')
    p = e.run('admin1', 'alice')
    expect(p, 2, 'no terminal, no --yes')
    check('--yes' in p.stderr and 'terminal' in p.stderr, 'unclear message: ' + p.stderr)
    check(e.raw('alice') == before, 'reset without consent')


def case_stale_socket(e):
    e.start()
    e.daemon.kill()  # leaves its socket file behind
    e.daemon.wait()
    e.daemon = None
    check(os.path.exists(e.sock), 'no stale socket to test with')
    e.start()
    e.seed('alice')
    expect(e.run('admin1', '--yes', 'alice'), 0, 'reset after replacing a stale socket')
    e.daemon.terminate()
    e.daemon.wait()
    e.daemon = None
    check(not os.path.exists(e.sock), 'the daemon left its socket behind on SIGTERM')
    with open(e.sock, 'w') as f:
        f.write('not a socket')
    p = subprocess.run([RESETD, '--config', e.cfg, '--socket', e.sock, '--foreground'],
                       capture_output=True, text=True, timeout=30)
    check(p.returncode != 0 and 'File exists' in p.stderr,
          'daemon started over a regular file: %d %s' % (p.returncode, p.stderr))
    with open(e.sock) as f:
        check(f.read() == 'not a socket', 'daemon removed a regular file')


def case_daemon_down(e):
    p = e.run('admin1', '--yes', 'alice')
    expect(p, 4, 'daemon down')
    check('cannot reach mfa-resetd' in p.stderr, p.stderr)
    with open(e.sock, 'w'):
        pass  # a plain file where the socket should be
    expect(e.run('admin1', '--status', 'alice'), 4, 'not a socket')


def connect():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    return s


def rpc(f, line):
    f.write(line)
    f.flush()
    out = []
    while True:
        r = f.readline()
        check(r != b'', 'connection closed after %r' % line[:40])
        out.append(r.decode())
        if re.match(r'(end|denied|error) ', out[-1]):
            return out


def case_malformed_request(e):
    e.seed('alice')
    s = connect()
    s.connect(e.sock)
    f = s.makefile('rwb')
    for line, code in ((b'HELLO\n', 'malformed'), (b'MFA9 LIST\n', 'bad-version'),
                       (b'MFA1 RESET\n', 'malformed'), (b'MFA1 FROB x\n', 'malformed'),
                       (b'MFA1 RESET a\x01b\n', 'malformed'), (b'MFA1 RESET  a\n', 'malformed'),
                       (b'MFA1 LIST x\n', 'malformed'), (b'\n', 'malformed'),
                       (b'MFA1 STATUS ' + b' '.join(b'u%d' % i for i in range(1025)) + b'\n',
                        'too-many')):
        r = rpc(f, line)
        check(r[-1].startswith('error ' + code), '%r -> %r, want %s' % (line[:30], r, code))
    r = rpc(f, b'MFA1 STATUS alice\n')
    check(r[0].startswith('status alice status=enrolled'), 'same connection still served: %r' % r)
    s.close()
    p = e.run('admin1', '--status', 'alice')
    expect(p, 0, 'status after malformed requests')


def case_oversize_request(e):
    s = connect()
    s.connect(e.sock)
    s.sendall(b'MFA1 RESET ' + b'a' * 70000)
    data = s.recv(4096)
    check(data.startswith(b'error too-long'), 'oversize answered %r' % data)
    try:
        rest = s.recv(4096)
    except ConnectionResetError:  # closed with our unread bytes in its queue
        rest = b''
    check(rest == b'', 'connection not closed after an oversize line')
    s.close()
    e.seed('alice')
    expect(e.run('admin1', '--yes', 'alice'), 0, 'reset after an oversize request')


def case_slow_request(e):
    e.seed('alice')
    s = connect()
    s.connect(e.sock)
    s.sendall(b'MFA1 STAT')
    t0 = time.monotonic()
    p = e.run('admin1', '--yes', 'alice')
    expect(p, 0, 'reset while a slow client holds a connection')
    check(time.monotonic() - t0 < 4, 'the slow client blocked the others')
    s.settimeout(15)
    data = s.recv(4096)
    took = time.monotonic() - t0
    check(data.startswith(b'error timeout'), 'slow client answered %r' % data)
    check(3 <= took <= 10, 'timeout after %.1f s' % took)


def case_client_disconnect(e):
    names = b' '.join(b'x%d' % i for i in range(1000))
    for i in range(20):
        s = connect()
        s.connect(e.sock)
        s.sendall(b'MFA1 RESET ' + names + (b'\n' if i % 2 else b''))
        s.close()  # gone before the answer
    s = connect()
    s.connect(e.sock)
    s.sendall(b'MFA1 LIST\n' * 200)
    s.close()
    e.seed('alice')
    expect(e.run('admin1', '--yes', 'alice'), 0, 'reset after clients vanished')
    assert_reset(e, 'alice', 'admin1')


def case_connection_cap(e):
    idle = []
    for _ in range(40):
        s = connect()
        s.connect(e.sock)
        idle.append(s)
    e.seed('alice')
    p = e.run('admin1', '--yes', 'alice', timeout=30)
    expect(p, 0, 'reset with 40 idle connections open')
    for s in idle:
        s.close()


HOLDER = r"""
import socket, sys, time
held = []
for _ in range(int(sys.argv[2])):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sys.argv[1])
    held.append(s)
print('READY', flush=True)
sys.stdin.read()
"""


def case_over_cap_client_says_busy(e):
    """An administrator (not root) whose uid already holds its 4 connections: the fifth is
    refused as busy, mfa-reset says so and exits 1 (the daemon answered: not 4, which tells
    to start it), nothing is changed; once those close, the same command works."""
    e.seed('alice')
    uid = UIDS['admin1']
    h = subprocess.Popen(['setpriv', '--reuid=%d' % uid, '--regid=%d' % uid, '--clear-groups',
                          sys.executable, '-c', HOLDER, e.sock, '4'],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        check(h.stdout.readline().startswith('READY'), 'holder did not connect')
        before = e.raw('alice')
        p = e.run('admin1', '--yes', 'alice', timeout=30)
        expect(p, 1, 'reset over the per-uid connection cap')
        check('too many connections from your user' in p.stderr and '(busy)' in p.stderr,
              'no busy message: %s' % p.stderr)
        check(e.raw('alice') == before, 'the refused reset changed the state')
    finally:
        h.stdin.close()
        h.wait(timeout=30)
    # their slots are free once the daemon has reaped the children that served them
    deadline = time.monotonic() + 20
    p = e.run('admin1', '--yes', 'alice', timeout=30)
    while '(busy)' in p.stderr and time.monotonic() < deadline:
        time.sleep(0.1)
        p = e.run('admin1', '--yes', 'alice', timeout=30)
    expect(p, 0, 'reset once the held connections closed')


def case_status(e):
    e.seed('alice', 'bob')
    expect(e.run('admin1', '--yes', 'bob'), 0, 'reset bob')
    e.tool('lockout', 'alice')
    p = e.run('admin1', '--status', 'alice', 'bob', 'carol', 'nosuchuser')
    expect(p, 1, 'status with an unknown user')
    out = p.stdout
    check(re.search(r'^alice +enrolled .*locked out until', out, re.M), out)
    check(re.search(r'^bob +reset pending \(by admin1 at ', out, re.M), out)
    check(re.search(r'^carol +not enrolled', out, re.M), out)
    check(re.search(r'^nosuchuser: failed: .*unknown-user', out, re.M), out)
    expect(e.run('mallory', '--status', 'alice'), 3, 'status by a non-admin')


def case_list(e):
    e.seed('alice', 'bob', 'carol')
    expect(e.run('admin1', '--yes', 'carol'), 0, 'reset carol')
    p = e.run('admin1', '--list')
    expect(p, 0, '--list')
    for u, st in (('alice', 'enrolled'), ('bob', 'enrolled'), ('carol', 'reset pending')):
        check(re.search(r'^%s +%s' % (u, st), p.stdout, re.M), p.stdout)
    check('3 shown, 0 failed' in p.stdout, p.stdout)
    expect(e.run('mallory', '--list'), 3, '--list by a non-admin')


def case_json(e):
    e.seed('alice', 'bob')
    p = e.run('admin1', '--json', '--yes', 'alice', 'nosuchuser', 'bad"name')
    expect(p, 1, '--json reset')
    doc = json.loads(p.stdout)
    check(doc['ok'] == 1 and doc['failed'] == 2, doc)
    res = {r['user']: r for r in doc['results'] if r['user'] != '(invalid)'}
    check(res['alice']['result'] == 'ok', doc)
    check(res['nosuchuser']['error'] == 'unknown-user', doc)
    p = e.run('admin1', '--json', '--status', 'alice', 'bob', 'carol')
    expect(p, 0, '--json --status')
    doc = json.loads(p.stdout)
    st = {r['user']: r for r in doc['results']}
    check(st['alice']['status'] == 'reset' and st['alice']['reset_by'] == 'admin1', doc)
    check(st['bob']['status'] == 'enrolled' and st['bob']['reset_by'] is None, doc)
    check(st['carol']['status'] == 'none', doc)
    p = e.run('admin1', '--json', '--list')
    expect(p, 0, '--json --list')
    check(len(json.loads(p.stdout)['results']) == 2, p.stdout)
    p = e.run('admin1', '--json', '--dry-run', '--group', 'contractors')
    expect(p, 0, '--json --dry-run')
    doc = json.loads(p.stdout)
    check(doc['dry_run'] is True and doc['error'] is None, p.stdout)
    check(sorted(r['user'] for r in doc['results'] if r['result'] == 'would-reset') ==
          ['alice', 'carol'], p.stdout)


def case_unlock(e):
    e.seed('alice')
    e.tool('lockout', 'alice')
    s = e.show('alice')
    check(s['failures'] == '5' and int(s['locked_until']) > time.time(), s)
    expect(e.run('mallory', '--unlock', 'alice'), 3, 'unlock by a non-admin')
    check(e.show('alice')['failures'] == '5', 'refused unlock changed the state')
    p = e.run('admin1', '--unlock', 'alice')
    expect(p, 0, '--unlock')
    check('alice: unlocked' in p.stdout, p.stdout)
    s = e.show('alice')
    check(s['failures'] == '0' and s['locked_until'] == '0', 'still locked: %s' % s)
    check(s['status'] == 'enrolled' and s['secret'] == 'yes', 'unlock re-enrolled: %s' % s)
    p = e.run('admin1', '--unlock', 'carol')
    expect(p, 1, 'unlock of a user without state')
    check('not-enrolled' in p.stdout, p.stdout)


def case_dry_run(e):
    e.seed('alice', 'carol')
    before = {u: e.raw(u) for u in ('alice', 'carol')}
    p = e.run('admin1', '--dry-run', '--group', 'contractors', 'bob')
    expect(p, 0, '--dry-run')
    for u in ('alice', 'carol', 'bob'):
        check(u + ': would be reset' in p.stdout, p.stdout)
    for u, b in before.items():
        check(e.raw(u) == b, 'dry run changed ' + u)
    check(not os.path.exists(os.path.join(e.state, 'bob')), 'dry run created state')


def case_corrupt_state(e):
    with open(os.open(os.path.join(e.state, 'alice'), os.O_WRONLY | os.O_CREAT, 0o600),
              'w') as f:
        f.write('this is { not a state file')
    expect(e.run('admin1', '--yes', 'alice', 'carol'), 0, 'reset over corrupt / no state')
    assert_reset(e, 'alice', 'admin1')
    assert_reset(e, 'carol', 'admin1')


def case_usage(e):
    for args in ((), ('--list', 'alice'), ('--status', '--unlock', 'a'), ('--bogus',),
                 ('--status',)):
        expect(e.run('admin1', *args), 2, 'usage %s' % (args,))


def case_bulk(e):
    n = int(os.environ.get('RESETD_BULK_USERS', '2000'))
    with open(e.passwd) as f:
        base = f.read()
    e.passwd = os.path.join(e.tmp, 'passwd')
    with open(e.passwd, 'w') as f:
        f.write(base)
        for i in range(n):
            f.write('bulk%05d:x:%d:100::/nonexistent:/bin/sh\n' % (i, 10000 + i))
    e.daemon.terminate()
    e.daemon.wait()
    e.start()
    names = ''.join('bulk%05d\n' % i for i in range(n))
    if os.environ.get('RESETD_BULK_SEED'):  # measure enrolled users, not first states
        for i in range(0, n, 500):
            e.seed(*('bulk%05d' % j for j in range(i, min(n, i + 500))))
    t0 = time.monotonic()
    p = e.run('admin1', '--yes', '--from-file', '-', input=names, timeout=600)
    took = time.monotonic() - t0
    expect(p, 0, 'bulk reset')
    check('%d succeeded, 0 failed' % n in p.stdout, p.stdout[-200:])
    assert_reset(e, 'bulk00000', 'admin1')
    assert_reset(e, 'bulk%05d' % (n - 1), 'admin1')
    print('reset of %d users: %.2f s' % (n, took))


# --- issue 10 and 12: attacks on the service, and what the administrator is told ----------

def log_lines(e, *needles):
    return [l for l in e.logtext().splitlines() if all(n in l for n in needles)]


def case_admins_and_root_protected(e):
    """A non-root admin may not reset (or unlock) root or another admin: one stolen admin
    password must not open everybody's second factor. Root still may."""
    e.seed('admin2', 'root', 'alice')
    before = {u: e.raw(u) for u in ('admin2', 'root')}
    p = e.run('admin1', '--yes', 'admin2', 'root', 'alice')
    expect(p, 1, 'admin1 resets admin2, root and alice')
    check(re.search(r'^admin2: failed: .*\(protected\)', p.stdout, re.M), p.stdout)
    check(re.search(r'^root: failed: .*\(protected\)', p.stdout, re.M), p.stdout)
    check('alice: reset' in p.stdout, p.stdout)
    for u, b in before.items():
        check(e.raw(u) == b, 'protected %s changed' % u)
    p = e.run('admin1', '--unlock', 'admin2')
    expect(p, 1, 'admin1 unlocks admin2')
    check('protected' in p.stdout, p.stdout)
    check(log_has(e, r"event=reset actor='admin1' uid=2001 target='admin2' result=refused "
                     r"reason=protected"), e.logtext())
    expect(e.run('root', '--yes', 'admin2', 'root'), 0, 'root resets admin2 and root')
    assert_reset(e, 'admin2', 'root')


ATTACKER = r"""
import socket, sys, time
path, duration = sys.argv[1], float(sys.argv[2])
end = time.monotonic() + duration
conns, last = [], {}
opened = busy = closed = 0
print('READY', flush=True)
while time.monotonic() < end:
    while len(conns) < 40 and time.monotonic() < end:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(1)
        try:
            s.connect(path)
        except OSError:
            s.close()
            break
        s.setblocking(False)
        opened += 1
        conns.append(s)
        last[s] = 0.0
        if opened % 3 == 0:
            try:  # many requests, replies never read
                s.send(b'MFA1 LIST\n' * 3000)
            except OSError:
                pass
    now = time.monotonic()
    for s in list(conns):
        gone = False
        try:
            d = s.recv(65536)
            if d.startswith(b'error busy'):
                busy += 1
            gone = d == b'' or d.startswith(b'error busy')
        except BlockingIOError:
            pass
        except OSError:
            gone = True
        if not gone and now - last[s] > 3:  # a request every 3 s keeps a read timer fed
            try:
                s.send(b'MFA1 LIST\n')
                last[s] = now
            except BlockingIOError:
                pass
            except OSError:
                gone = True
        if gone:
            closed += 1
            conns.remove(s)
            s.close()
    time.sleep(0.05)
print('OPENED %d BUSY %d CLOSED %d' % (opened, busy, closed), flush=True)
"""


def attacker(e, user, duration):
    uid = UIDS[user]
    return subprocess.Popen(['setpriv', '--reuid=%d' % uid, '--regid=%d' % uid,
                             '--clear-groups', sys.executable, '-c', ATTACKER, e.sock,
                             str(duration)], stdout=subprocess.PIPE, text=True)


def case_freeze_attack_admin_still_served(e):
    """mallory holds every connection she can (idle, dripping a request every 3 s, flooding
    requests without reading): an admin's --status still answers, her extra connections are
    refused or closed, and her refusals are logged at a bounded rate."""
    e.seed('alice')
    a = attacker(e, 'mallory', 13)
    check(a.stdout.readline().startswith('READY'), 'attacker did not start')
    time.sleep(2)
    t0 = time.monotonic()
    try:
        p = e.run('admin1', '--status', 'alice', timeout=10)
    except subprocess.TimeoutExpired:
        raise Fail('admin --status did not answer within 10 s during the attack')
    expect(p, 0, 'admin --status during the attack (%.1f s)' % (time.monotonic() - t0))
    check('alice' in p.stdout and 'enrolled' in p.stdout, p.stdout)
    out, _ = a.communicate(timeout=60)
    m = re.search(r'OPENED (\d+) BUSY (\d+) CLOSED (\d+)', out)
    check(m, 'attacker report: ' + out)
    opened, busy, closed = map(int, m.groups())
    check(busy > 0 and closed >= opened - 40,
          'extra connections neither refused nor closed: ' + out)
    # Her refusals: at most RESETD_LOG_BURST (20) per 10 s interval, then one count line.
    for _ in range(100):
        if log_has(e, r'event=ratelimit result=suppressed count=[1-9]'):
            break
        time.sleep(0.1)
    lines = log_lines(e, 'uid=2030', 'result=refused')
    check(len(lines) <= 3 * 20, '%d refusal lines for one attacker' % len(lines))
    check(log_has(e, r'event=ratelimit result=suppressed count=[1-9]'),
          'no line counting the suppressed refusals: ' + e.logtext()[-2000:])


def case_unread_replies_hit_the_deadline(e):
    """An admin's connection that sends many requests and never reads the replies is closed
    once its I/O budget is spent (it cannot hold a slot)."""
    e.seed('alice', 'bob', 'carol')
    s = connect()
    s.connect(e.sock)
    s.sendall(b'MFA1 STATUS alice bob carol\n' * 2000)  # far more reply than any buffer
    for _ in range(400):  # a generous bound: the budget is 20 s
        if log_has(e, r'event=connection .*result=refused reason=deadline'):
            break
        time.sleep(0.1)
    check(log_has(e, r'event=connection .*result=refused reason=deadline'),
          'a client that never reads kept its connection: ' + e.logtext()[-1000:])
    s.close()


def case_refused_caller_disconnected(e):
    s = connect()
    uid = UIDS['mallory']
    p = subprocess.run(['setpriv', '--reuid=%d' % uid, '--regid=%d' % uid, '--clear-groups',
                        sys.executable, '-c',
                        'import socket,sys\n'
                        's=socket.socket(socket.AF_UNIX);s.connect(sys.argv[1]);'
                        's.sendall(b"MFA1 LIST\\nMFA1 LIST\\n");s.settimeout(10)\n'
                        'd=b""\n'
                        'while True:\n'
                        '    x=s.recv(4096)\n'
                        '    if not x: break\n'
                        '    d+=x\n'
                        'print(repr(d))', e.sock], capture_output=True, text=True, timeout=30)
    s.close()
    check(p.returncode == 0, 'not disconnected after the refusal: ' + p.stdout + p.stderr)
    check(p.stdout.count('denied') == 1, 'second request answered: ' + p.stdout)
    check('mfa-admins' in p.stdout, 'refusal does not name the groups: ' + p.stdout)
    # A stream of malformed lines (answered at once, no waiting) must not hold a slot either.
    p = subprocess.run(['setpriv', '--reuid=%d' % uid, '--regid=%d' % uid, '--clear-groups',
                        sys.executable, '-c',
                        'import socket,sys\n'
                        's=socket.socket(socket.AF_UNIX);s.connect(sys.argv[1]);'
                        's.sendall(b"HELLO\\n" * 50);s.settimeout(10)\n'
                        'd=b""\n'
                        'while True:\n'
                        '    x=s.recv(4096)\n'
                        '    if not x: break\n'
                        '    d+=x\n'
                        'print(repr(d))', e.sock], capture_output=True, text=True, timeout=30)
    check(p.returncode == 0 and p.stdout.count('error malformed') == 1,
          'not disconnected after a malformed line: ' + p.stdout + p.stderr)


def case_client_timeout(e):
    """A daemon that accepts and never answers: mfa-reset gives up with a clear message and
    exit 4, not a hang."""
    e.daemon.terminate()
    e.daemon.wait()
    e.daemon = None
    if os.path.exists(e.sock):  # a daemon without the fix leaves it behind
        os.unlink(e.sock)
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(e.sock)
    os.chmod(e.sock, 0o666)
    srv.listen(8)
    t0 = time.monotonic()
    p = e.run('admin1', '--timeout', '2', '--status', 'alice', timeout=20)
    took = time.monotonic() - t0
    srv.close()
    expect(p, 4, 'silent daemon')
    check('did not answer within 2 s' in p.stderr, p.stderr)
    check(took < 10, 'gave up after %.1f s' % took)


def case_client_survives_early_close(e):
    """The daemon closes after the first answer: the next write must not kill mfa-reset with
    SIGPIPE (exit 141); it says the connection was lost and which results are unknown."""
    e.daemon.terminate()
    e.daemon.wait()
    e.daemon = None
    if os.path.exists(e.sock):  # a daemon without the fix leaves it behind
        os.unlink(e.sock)
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(e.sock)
    os.chmod(e.sock, 0o666)
    srv.listen(8)
    import threading

    def serve():
        c, _ = srv.accept()
        f = c.makefile('rb')
        f.readline()
        c.sendall(b'member alice\nmember carol\nend ok=2 failed=0\n')
        c.shutdown(socket.SHUT_RDWR)
        c.close()
    t = threading.Thread(target=serve)
    t.start()
    p = e.run('admin1', '--yes', '--group', 'contractors', 'bob', timeout=20)
    t.join()
    srv.close()
    check(p.returncode != 141 and p.returncode != -13, 'killed by SIGPIPE')
    expect(p, 4, 'connection lost')
    check('connection' in p.stderr and ('lost' in p.stderr or 'closed' in p.stderr), p.stderr)
    check(p.stderr.count('mfa-reset: ') == 2, 'one reason, one list: ' + p.stderr)
    check(re.search(r'results unknown for 3 users .*: alice carol bob', p.stderr),
          'unknown results not named: ' + p.stderr)
    check('0 succeeded, 0 failed, 3 unknown' in p.stdout, p.stdout)


def case_unresolvable_caller_refused(e):
    """uid 4242 has no passwd entry: refused, never taken for the admin named 'unknown'."""
    e.seed('alice')
    before = e.raw('alice')
    p = e.run('ghost', '--yes', 'alice')
    expect(p, 3, 'unresolvable uid')
    check('uid 4242' in p.stderr, 'refusal does not say why: ' + p.stderr)
    check(e.raw('alice') == before, 'an unresolvable uid reset alice')
    check(log_has(e, r'event=connect uid=4242 result=refused reason=unknown-uid'), e.logtext())
    p = e.run('unknown', '--yes', 'alice')
    expect(p, 0, 'the real admin named unknown')
    assert_reset(e, 'alice', 'unknown')


def case_admin_name_with_space(e):
    """An admin whose NSS name is 'john smith' resets alice: alice's state must still load.
    (Needs the common helper's reset_by format; fails until that is merged.)"""
    e.seed('alice')
    p = e.run('john smith', '--yes', 'alice')
    expect(p, 0, "reset by 'john smith'")
    check(log_has(e, r"event=reset actor='john\\x20smith' uid=2060 target='alice' result=ok"),
          e.logtext())
    s = e.tool('show', 'alice')  # loads alice's state, as the module will
    check(s.startswith('status=reset '), s)
    st = e.run('admin1', '--status', 'alice')
    expect(st, 0, 'status of alice after a reset by john smith')
    check('reset pending (by john\\x20smith at' in st.stdout, st.stdout)


def case_no_chmod_by_path(e):
    """The socket gets its mode before bind() creates it: no chmod by path (which follows a
    link an attacker swapped in)."""
    e.daemon.terminate()
    e.daemon.wait()
    trace = os.path.join(e.tmp, 'trace')
    e.start(wrap=['strace', '-f', '-qq', '-o', trace, '-e', 'trace=chmod,fchmodat,bind'])
    with open(trace) as f:
        t = f.read()
    check('bind(' in t, 'strace saw no bind: ' + t)
    check(not re.search(r'(chmod|fchmodat)\([^)]*resetd\.sock', t), 'chmod by path: ' + t)


def case_live_socket_not_taken_over(e):
    """A second daemon on the socket of a live one refuses to start and leaves it serving."""
    p = subprocess.run([RESETD, '--config', e.cfg, '--socket', e.sock, '--foreground'],
                       env=e.env, capture_output=True, text=True, timeout=30)
    check(p.returncode != 0, 'a second daemon started on a live socket')
    check('another mfa-resetd' in p.stderr, p.stderr)
    e.seed('alice')
    expect(e.run('admin1', '--status', 'alice'), 0, 'the first daemon still serves')


def case_daemon_mode_pidfile(e):
    e.daemon.terminate()
    e.daemon.wait()
    e.daemon = None
    pidfile = os.path.join(e.tmp, 'mfa-resetd.pid')
    p = subprocess.run([RESETD, '--config', e.cfg, '--socket', e.sock, '--pidfile', pidfile],
                       env=e.env, capture_output=True, text=True, timeout=30)
    expect(p, 0, 'daemon mode')
    for _ in range(100):
        if os.path.exists(pidfile) and open(pidfile).read().endswith('\n'):
            break
        time.sleep(0.05)
    pid = int(open(pidfile).read())
    os.kill(pid, 0)
    e.seed('alice')
    expect(e.run('admin1', '--status', 'alice'), 0, 'daemon mode serves')
    os.kill(pid, 15)
    for _ in range(200):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    check(not os.path.exists(e.sock), 'socket left after SIGTERM')
    check(not os.path.exists(pidfile), 'pidfile left after SIGTERM')


def case_refused_reset_names_targets(e):
    e.seed('alice', 'bob')
    names = ['alice', 'bob'] + ['nosuch%02d' % i for i in range(10)]
    p = e.run('mallory', '--yes', *names)
    expect(p, 3, 'refused')
    check(log_has(e, r"event=reset actor='mallory' uid=2030 target='alice' result=refused "
                     r"reason=not-admin"), e.logtext())
    check(log_has(e, r"target='bob' result=refused reason=not-admin"), e.logtext())
    check(log_has(e, r"actor='mallory' uid=2030 result=refused reason=not-admin more=4"),
          'no more=N for the unnamed rest: ' + e.logtext())
    check('nosuch' not in e.logtext(), 'unknown names logged (could be a password)')


def case_names_escaped(e):
    """Names with bytes >= 0x80 or control bytes reach neither the log nor the terminal raw."""
    e.seed('\u00e1nna')
    p = subprocess.run(['setpriv', '--reuid=2001', '--regid=2001', '--clear-groups', RESET,
                        '--socket', e.sock, '--yes', '--', '\u00e1nna', 'x\x1b[2Jy'],
                       capture_output=True, start_new_session=True, timeout=60)
    out = p.stdout + p.stderr
    check(p.returncode == 1, 'exit %d: %r' % (p.returncode, out))
    check(all(b < 0x80 and (b >= 0x20 or b == 0x0a) for b in out),
          'raw bytes in the client output: %r' % out)
    check(b'\\xc3\\xa1nna: reset' in p.stdout, p.stdout)
    check(b'x\\x1b[2Jy: failed' in p.stdout, p.stdout)
    check(log_has(e, r"target='\\xc3\\xa1nna' result=ok"), e.logtext())
    with open(e.log, 'rb') as f:
        check(all(b < 0x80 for b in f.read()), 'raw bytes in the log')


def case_long_name_reset(e):
    """A valid name of 90 Cyrillic letters (180 bytes, its file name a hash): reset, shown whole
    by the client (escaped), its status read back."""
    name = '\u0416' * 90
    shown = ''.join('\\x%02x' % b for b in name.encode())
    e.seed(name)
    p = e.run('admin1', '--yes', name)
    expect(p, 0, 'long name reset')
    check((shown + ': reset') in p.stdout, 'name cut or not reset: ' + p.stdout)
    assert_reset(e, name, 'admin1')
    p = e.run('admin1', '--status', name)
    expect(p, 0, 'status of a long name')
    check(shown in p.stdout and 'reset pending' in p.stdout, p.stdout)


def case_syncfs_failure_reported(e):
    """syncfs fails after the renames: the resets happened (the secrets are gone) and are
    reported as done but not safe on disk, not as io-error."""
    e.daemon.terminate()
    e.daemon.wait()
    e.start(wrap=['strace', '-f', '-qq', '-o', '/dev/null', '-e', 'trace=syncfs',
                  '-e', 'inject=syncfs:error=EIO'])
    e.seed('alice', 'bob')
    p = e.run('admin1', '--yes', 'alice', 'bob')
    expect(p, 1, 'syncfs failed')
    check('io-error' not in p.stdout, 'reported io-error: ' + p.stdout)
    check(re.search(r'^alice: reset \(done, but not yet safe on disk', p.stdout, re.M), p.stdout)
    check('2 succeeded, 0 failed (2 not yet safe on disk)' in p.stdout, p.stdout)
    assert_reset(e, 'alice', 'admin1')
    check(log_has(e, r"target='alice' result=ok reason=not-synced"), e.logtext())
    p = e.run('admin1', '--json', '--yes', 'bob')
    doc = json.loads(p.stdout)
    check(doc['results'][0]['synced'] is False and doc['not_synced'] == 1, doc)


def case_from_file_bad_lines(e):
    e.seed('u01', 'u03', 'u05')
    e.passwd = os.path.join(e.tmp, 'passwd')
    with open(os.path.join(SRCDIR, 'passwd')) as f:
        base = f.read()
    with open(e.passwd, 'w') as f:
        f.write(base + ''.join('u%02d:x:%d:100::/nonexistent:/bin/sh\n' % (i, 2100 + i)
                               for i in range(1, 7)))
    e.daemon.terminate()
    e.daemon.wait()
    e.start()
    before = e.raw('u03')
    text = 'u01\nu03\x00u04\n' + 'x' * 100000 + '\nbad/name\nu05\n'
    p = e.run('admin1', '--yes', '--from-file', '-', input=text)
    expect(p, 1, 'bad lines among good ones')
    check(re.search(r'^stdin:2: failed: NUL byte', p.stdout, re.M), p.stdout)
    check(re.search(r'^stdin:3: failed: longer than', p.stdout, re.M), p.stdout)
    check(re.search(r'^stdin:4: failed: not a valid user name', p.stdout, re.M), p.stdout)
    check('2 succeeded, 3 failed' in p.stdout, p.stdout)
    assert_reset(e, 'u01', 'admin1')
    assert_reset(e, 'u05', 'admin1')
    check(e.raw('u03') == before, 'the name before the NUL was reset')


def case_dry_run_verdicts(e):
    """--dry-run shows the daemon's verdict per target; a user named directly and through a
    group is planned (and reset) once."""
    e.seed('alice', 'carol')
    p = e.run('admin1', '--dry-run', '--group', 'contractors', 'alice', 'nosuch', 'admin2',
              'bad/name')
    expect(p, 1, 'dry run with refusals')
    check(p.stdout.count('alice: would be reset') == 1, p.stdout)
    check('carol: would be reset' in p.stdout, p.stdout)
    check(re.search(r'^nosuch: failed: .*unknown-user', p.stdout, re.M), p.stdout)
    check(re.search(r'^admin2: failed: .*protected', p.stdout, re.M), p.stdout)
    check(re.search(r'^bad/name: failed: .*invalid-name', p.stdout, re.M), p.stdout)
    check('2 would be reset, 3 failed' in p.stdout, p.stdout)
    p = e.run('admin1', '--yes', '--group', 'contractors', 'alice')
    expect(p, 0, 'reset through a group and by name')
    check(p.stdout.count('alice: reset') == 1 and '2 succeeded, 0 failed' in p.stdout, p.stdout)


def case_json_every_outcome(e):
    e.seed('alice', 'bob')
    expect(e.run('admin1', '--yes', 'bob'), 0, 'reset bob')
    p = e.run('mallory', '--json', '--yes', 'alice')
    expect(p, 3, 'refused, JSON')
    doc = json.loads(p.stdout)
    check(doc['error']['code'] == 'not-authorized' and 'mfa-admins' in doc['error']['message'],
          doc)
    p = e.run('admin1', '--json', '--status', 'alice', 'bob', 'carol')
    doc = json.loads(p.stdout)
    st = {r['user']: r for r in doc['results']}
    check(st['carol']['enrolled_at'] is None and st['carol']['reset_at'] is None and
          st['carol']['locked_until'] is None, 'missing times not null: %s' % st['carol'])
    check(st['alice']['reset_at'] is None and isinstance(st['alice']['enrolled_at'], int), st)
    check(isinstance(st['bob']['reset_at'], int), st)
    p = e.run('admin1', '--json', 'alice')  # no terminal, no --yes
    expect(p, 2, 'no terminal, JSON')
    check(json.loads(p.stdout)['error']['code'] == 'no-terminal', p.stdout)
    e.daemon.terminate()
    e.daemon.wait()
    e.daemon = None
    p = e.run('admin1', '--json', '--status', 'alice')
    expect(p, 4, 'unreachable, JSON')
    doc = json.loads(p.stdout)
    check(doc['error']['code'] == 'unreachable', doc)
    check('systemctl start mfa-resetd' in p.stderr, p.stderr)


def case_nobody_to_reset_says_why(e):
    p = e.run('admin1', '--yes', '--from-file', '-', input='# only a comment\n\n')
    expect(p, 1, 'empty list')
    check('nobody to reset: standard input holds no user names' in p.stderr, p.stderr)
    p = e.run('admin1', '--yes', '--group', 'empty')
    expect(p, 1, 'empty group')
    check('nobody to reset: the group named has no members' in p.stderr, p.stderr)
    p = e.run('admin1', '--yes', '--', 'a b', 'x\ty')
    expect(p, 1, 'only invalid names')
    check('nobody to reset: every name given was refused' in p.stderr, p.stderr)
    check('a\\x20b: failed' in p.stdout and 'x\\x09y: failed' in p.stdout, p.stdout)
    p = e.run('admin1', '--json', '--yes', '--group', 'empty')
    check(json.loads(p.stdout)['error']['code'] == 'nobody', p.stdout)

def case_broken_config_refuses_start(e):
    e.daemon.terminate()
    e.daemon.wait()
    e.daemon = None
    with open(e.cfg, 'a') as f:
        f.write('\nbogus_key = 1;\n')
    p = subprocess.run([RESETD, '--config', e.cfg, '--socket', e.sock, '--foreground'],
                       env=e.env, capture_output=True, text=True, timeout=30)
    check(p.returncode != 0, 'daemon started with a broken config')
    check(re.search(r':[1-9]\d*: ', p.stderr), 'no line number: ' + p.stderr)
    check(not os.path.exists(e.sock), 'socket made for a broken config')
    with open(e.cfg) as f:
        good = f.read().replace('bogus_key = 1;', '')
    with open(e.cfg, 'w') as f:
        f.write(good)
    os.chmod(e.cfg, 0o646)
    p = subprocess.run([RESETD, '--config', e.cfg, '--socket', e.sock, '--foreground'],
                       env=e.env, capture_output=True, text=True, timeout=30)
    check(p.returncode != 0 and 'writable by everyone' in p.stderr,
          'wrong mode, rule not named: ' + p.stderr)


def case_check_config(e):
    p = subprocess.run([RESET, '--check-config', e.cfg], capture_output=True, text=True)
    expect(p, 0, 'good config')
    bad = os.path.join(e.tmp, 'bad.conf')
    with open(bad, 'w') as f:
        f.write('state_dir = "/var/lib/pam_totp";\ntotp = { digits = 12; };\n')
    os.chmod(bad, 0o644)
    p = subprocess.run([RESET, '--check-config', bad], capture_output=True, text=True)
    expect(p, 1, 'bad config')
    check(re.search(r'bad\.conf:2: ', p.stdout + p.stderr), 'no line: ' + p.stdout + p.stderr)
    os.chmod(e.cfg, 0o666)
    p = subprocess.run([RESET, '--check-config', e.cfg], capture_output=True, text=True)
    expect(p, 1, 'world-writable config')
    check('writable' in p.stdout + p.stderr, 'rule not named: ' + p.stdout + p.stderr)


def case_log_lines_key_value(e):
    e.seed('alice')
    expect(e.run('admin1', '--yes', 'alice'), 0, 'reset')
    e.run('mallory', '--status', 'alice')
    e.daemon.terminate()
    e.daemon.wait()
    e.daemon = None
    lines = [l.split(': ', 1)[-1] for l in e.logtext().splitlines() if 'mfa-resetd' in l]
    check(lines, 'no log lines')
    for l in lines:
        check(re.match(r"^event=[a-z-]+( [a-z_]+=('([^'\\]|\\.)*'|\S+))*$", l),
              'not key=value: %r' % l)
    check(any(l.startswith('event=start result=ok socket=') for l in lines), lines)
    check(any(l.startswith('event=stop ') for l in lines), lines)


# --- joint tests with the real pam_totp.so (pam_wrapper + the module's test driver) --------

def pam_env(e):
    import base64
    e.key = base64.b32encode(os.urandom(20)).decode()
    e.service = 'resetd_joint_%d_%s' % (os.getpid(), e.key[:8].lower())
    pamd = os.path.join(e.tmp, 'pam.d')
    os.mkdir(pamd)
    with open(os.path.join(pamd, e.service), 'w') as f:
        f.write('auth [success=done ignore=ignore default=die] %s config=%s\n'
                'auth requisite pam_debug.so auth=maxtries\n'
                % (os.environ['PAM_TOTP_MODULE'], e.cfg))
    env = dict(os.environ)
    env.update({
        'LD_PRELOAD': '%s %s' % (os.environ['PAM_WRAPPER_LIB'], os.environ['NSS_WRAPPER_LIB']),
        'PAM_WRAPPER': '1', 'PAM_WRAPPER_SERVICE_DIR': pamd,
        'NSS_WRAPPER_PASSWD': e.passwd, 'NSS_WRAPPER_GROUP': e.group,
        'UID_WRAPPER_DISABLE_DEEPBIND': '1', 'PAM_WRAPPER_DISABLE_DEEPBIND': '1',
        'NSS_WRAPPER_DISABLE_DEEPBIND': '1',
    })
    e.pam_env = env
    p = subprocess.run([os.environ['PAM_STATE_TOOL'], 'enroll', e.state, 'alice', e.key],
                       capture_output=True, text=True)
    check(p.returncode == 0, 'enroll: ' + p.stderr)


def login(e, *answers):
    p = subprocess.run([os.environ['PAM_DRIVER'], '-k', e.key, e.service, 'alice'] +
                       list(answers), env=e.pam_env, capture_output=True, text=True,
                       timeout=120)
    m = re.search(r'^RESULT (\d+)', p.stdout, re.M)
    check(m, 'no PAM result: %s %s' % (p.stdout, p.stderr))
    return int(m.group(1)), p.stdout


def case_pam_forces_enrollment(e):
    pam_env(e)
    rc, out = login(e, 'code:0')
    check(rc == 0, 'enrolled login failed before the reset: ' + out)
    expect(e.run('admin1', '--yes', 'alice'), 0, 'reset')
    rc, out = login(e, 'code:1', 'code:1', 'code:1')
    check(rc != 0, 'old key accepted after the reset: ' + out)
    check(re.search(r'^INFO Key: ', out, re.M), 'no enrollment after the reset: ' + out)
    check(e.show('alice')['status'] == 'reset', 'failed enrollment changed the state')
    rc, out = login(e, 'enroll:0')
    check(rc == 0, 're-enrollment failed: ' + out)
    s = e.show('alice')
    check(s['status'] == 'enrolled' and s['secret'] == 'yes', 'not enrolled again: %s' % s)


def case_reset_races_logins(e):
    """20 logins hold at the code prompt; the answers and a reset are released together.
    Whatever order the lock gives them, the reset must survive: no login may write back the
    old secret."""
    pam_env(e)
    procs = []
    try:
        for _ in range(20):
            p = subprocess.Popen([os.environ['PAM_DRIVER'], '-k', e.key, e.service, 'alice',
                                  'stdin'], env=e.pam_env, text=True, stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            line = p.stdout.readline()
            while line and not line.startswith('WAITING'):
                line = p.stdout.readline()
            check(line.startswith('WAITING'), 'login did not reach the prompt')
            procs.append(p)
        code = subprocess.run([os.environ['PAM_STATE_TOOL'], 'code', e.key, '0'],
                              capture_output=True, text=True).stdout.strip()
        uid = UIDS['admin1']
        reset = subprocess.Popen(['setpriv', '--reuid=%d' % uid, '--regid=%d' % uid,
                                  '--clear-groups', RESET, '--socket', e.sock, '--yes', 'alice'],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 start_new_session=True)
        for i, p in enumerate(procs):
            p.stdin.write(code + '\n')
            p.stdin.flush()
        outs = [p.communicate(timeout=120) for p in procs]
        rout, rerr = reset.communicate(timeout=120)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    check(reset.returncode == 0, 'reset failed: %s %s' % (rout, rerr))
    oks = sum(1 for o, _ in outs if re.search(r'^RESULT 0 ', o, re.M))
    check(oks <= 1, '%d logins accepted one code' % oks)
    s = e.show('alice')
    check(s['status'] == 'reset' and s['secret'] == 'no', 'reset lost in the race: %s' % s)
    check(s['reset_by'] == 'admin1', 'reset_by lost: %s' % s)


CASES = {name[5:]: fn for name, fn in globals().items() if name.startswith('case_')}


def main():
    fn = CASES.get(CASE)
    if not fn:
        print('unknown case %r; known: %s' % (CASE, ' '.join(sorted(CASES))))
        return 1
    e = Env()
    try:
        if CASE not in ('daemon_down', 'stale_socket'):
            e.start()
        fn(e)
        e.close()
    except (Fail, Exception) as ex:  # any exception: report it, and never leave a daemon
        print('FAIL %s: %s: %s' % (CASE, type(ex).__name__, ex))
        print('--- daemon log ---\n' + (e.logtext() if os.path.exists(e.log) else ''))
        try:
            e.close()
        except Exception:
            if e.daemon and e.daemon.poll() is None:
                e.daemon.kill()
        return 1
    print('ok ' + CASE)
    return 0


if __name__ == '__main__':
    sys.exit(main())
