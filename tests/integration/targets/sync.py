"""Start-line handshake between a target script and the test harness.

argv[1] is a file the harness creates once gilwatch has attached; argv[2] is
where the target writes facts (thread ids) for the harness to check.
"""
import json
import os
import sys
import time


def wait_for_go(timeout=20.0):
    deadline = time.monotonic() + timeout
    while not os.path.exists(sys.argv[1]):
        if time.monotonic() > deadline:
            sys.exit("target: no go signal from the harness")
        time.sleep(0.01)


def report(**facts):
    tmp = sys.argv[2] + ".tmp"
    with open(tmp, "w") as f:
        json.dump(facts, f)
    os.rename(tmp, sys.argv[2])
