"""What the e2e tests share: failures that carry their evidence, codes from oathtool, and one
pseudo-terminal driver that runs a login program (ssh, pamtester) and answers its prompts the
way a person would."""
import os
import pty
import select
import subprocess
import time

OTHER_KEY = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


class Failure(Exception):
    pass


def check(cond, what, *detail):
    if not cond:
        raise Failure(what + "".join("\n--- " + str(d)[-3000:] for d in detail))


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
