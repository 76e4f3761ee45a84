"""What the e2e tests share: failures that carry their evidence, codes from oathtool, and one
pseudo-terminal driver that runs a login program (ssh, pamtester) and answers its prompts the
way a person would."""
import os
import pty
import select
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from cwrap_dirs import remove_pam_wrapper_dirs  # noqa: E402

OTHER_KEY = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


class Failure(Exception):
    pass


def check(cond, what, *detail):
    if not cond:
        raise Failure(what + "".join("\n--- " + str(d)[-3000:] for d in detail))


def undo(procs, users, groups, directory):
    """What a test world made, taken away again: processes stopped (killed after 10 s),
    short-lived users and groups deleted, its directory removed, and the pam_wrapper dirs
    (/tmp/pam.X) that hold its services (sshd's children end without pam_wrapper's cleanup).
    Never raises."""
    for p in procs:
        p.terminate()
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
    for u in users:
        subprocess.run(["userdel", u], capture_output=True)
    for g in groups:
        subprocess.run(["groupdel", g], capture_output=True)
    remove_pam_wrapper_dirs(os.path.join(directory, ""))
    shutil.rmtree(directory, ignore_errors=True)


class Person:
    """answer(kind, screen) for on_terminal, typing as a person with self.password would:
    "password", "wrong-password", "enroll" (the code of the last key shown on any screen; every
    key shown is kept in self.keys), "key:B32:N" (the code of key B32, N periods from now);
    answer_more(kind) for kinds of a test's own."""

    def answer(self, kind, screen):
        shown = [ln[5:].split("(")[0].replace(" ", "") for ln in screen.splitlines()
                 if ln.startswith("Key: ")]
        self.keys += [k for k in shown if k not in self.keys]
        if kind == "password":
            return self.password
        if kind == "wrong-password":
            return self.password + "x"
        if kind == "enroll":
            return oath(self.keys[-1])
        return self.answer_more(kind)

    def answer_more(self, kind):
        _, key, steps = kind.split(":")
        return oath(key, int(steps))


def oath(key, steps=0):
    """The code of base32 key now (+ steps periods of 30 s), by oathtool."""
    return subprocess.run(["oathtool", "--totp", "-b", "-N",
                           "@%d" % (int(time.time()) + 30 * steps), key],
                          check=True, capture_output=True, text=True, timeout=60).stdout.strip()


def on_terminal(argv, env, answer, plan, shell_input=None, seconds=60):
    """Runs argv on a pseudo-terminal; answers each "Password:" or "Verification code:" prompt
    with answer(next plan entry or "password", screen so far), presses Enter at "Press Enter to
    continue:" (after recovery codes, pam_totp(8)), and types shell_input at the first shell
    prompt. Bounded: seconds. Returns (exit status, screen without CRs)."""
    plan = list(plan)
    pid, fd = pty.fork()
    if pid == 0:
        os.execvpe(argv[0], argv, env if env is not None else os.environ)
    out, asked, deadline = "", 0, time.time() + seconds
    while time.time() < deadline:
        if not select.select([fd], [], [], 1)[0]:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk.decode(errors="replace")
        tail = out.rstrip(" ")
        if asked < len(out) and not out.endswith("\n"):
            if tail.endswith("Password:") or tail.endswith("Verification code:"):
                os.write(fd, (answer(plan.pop(0) if plan else "password", out) + "\n").encode())
            elif tail.endswith("Press Enter to continue:"):
                os.write(fd, b"\n")
            elif shell_input and tail.endswith("$"):
                os.write(fd, shell_input.encode())
                shell_input = None
            else:
                continue
            out += "\n"
            asked = len(out)
    else:
        os.kill(pid, 9)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), out.replace("\r", "")
