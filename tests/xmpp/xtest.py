"""What the XMPP test scripts share.

check() prints 'ok NAME' (with '(WHY)' when given) or 'FAIL NAME: WHY' and
counts the failures; a script ends with sys.exit(xtest.failures), so its
exit status is their number.
"""

failures = 0


def check(cond, name, why=""):
    global failures
    if cond:
        print("ok", name + (" (" + why + ")" if why else ""), flush=True)
    else:
        failures += 1
        print("FAIL", name + (": " + why if why else ""), flush=True)
    return bool(cond)
