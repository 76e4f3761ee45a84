#!/usr/bin/env python3
"""SSH_ASKPASS for the end-to-end test: ssh hands it each keyboard-interactive prompt, with the
PAM text that came before it (the enrollment screen), as a person would see it on the
terminal. It answers from the plan the test wrote (E2E_DIR/plan, one answer kind per prompt):
  password        the test user's password (E2E_DIR/password)
  enroll          the code of the last key shown ("Key: ..." in a prompt's text)
  key:B32:N       the code of key B32 at now + N steps (oathtool)
Every prompt text is appended to E2E_DIR/prompts."""
import os
import re
import subprocess
import sys
import time

d = os.environ["E2E_DIR"]
prompt = sys.argv[1] if len(sys.argv) > 1 else ""
with open(os.path.join(d, "prompts"), "a") as f:
    f.write(prompt + "\n---\n")
with open(os.path.join(d, "plan")) as f:
    plan = f.read().split()
counter = os.path.join(d, "count")
n = int(open(counter).read()) if os.path.exists(counter) else 0
with open(counter, "w") as f:
    f.write(str(n + 1))
kind = plan[n] if n < len(plan) else "password"


def code(key, steps):
    when = "@%d" % (int(time.time()) + 30 * steps)
    return subprocess.run(["oathtool", "--totp", "-b", "-N", when, key], check=True,
                          capture_output=True, text=True).stdout.strip()


m = re.search(r"^Key: (.*?) \(", prompt, re.M)
if m:  # every key shown is remembered: enrollment retries do not repeat it
    with open(os.path.join(d, "shown-key"), "a") as f:
        f.write(m.group(1).replace(" ", "") + "\n")

if kind == "password":
    print(open(os.path.join(d, "password")).read().strip())
elif kind == "enroll":
    with open(os.path.join(d, "shown-key")) as f:
        print(code(f.read().split()[-1], 0))
else:
    _, key, steps = kind.split(":")
    print(code(key, int(steps)))
