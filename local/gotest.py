"""Print `go test -json` output the way plain `go test` does, then a count of test results.

Reads the JSON stream on stdin and writes: package result lines (ok / FAIL / no test files),
build errors, and the output of failing tests; lines that are not JSON pass through unchanged.
Ends with "go test: N passed, N failed, N skipped", which it also writes to the file named by
its first argument, if any. Exits 1 when a test or package failed.
"""
import json
import sys

counts = {"pass": 0, "fail": 0, "skip": 0}
failed_pkg = False
test_output = {}  # (package, test) -> buffered output lines, printed if the test fails

for line in sys.stdin:
    try:
        ev = json.loads(line)
    except ValueError:
        sys.stdout.write(line)
        continue
    if not isinstance(ev, dict):
        sys.stdout.write(line)
        continue
    action, test, out = ev.get("Action"), ev.get("Test"), ev.get("Output", "")
    if action == "build-output":
        sys.stdout.write(out)
    elif action == "build-fail":
        failed_pkg = True
    elif test:
        key = (ev.get("Package"), test)
        if action == "output":
            test_output.setdefault(key, []).append(out)
        elif action in counts:
            # Subtests count too; a parent fails with its failing subtest.
            counts[action] += 1
            lines = test_output.pop(key, [])
            if action == "fail":
                sys.stdout.write("".join(lines))
    elif action == "output":
        # Package-level lines: "ok …", "FAIL …", "?   … [no test files]", panics, coverage.
        if out.strip() not in ("PASS", "FAIL") and not out.startswith("=== "):
            sys.stdout.write(out)
    elif action == "fail":
        failed_pkg = True
    sys.stdout.flush()

summary = f"{counts['pass']} passed, {counts['fail']} failed, {counts['skip']} skipped"
print("go test: " + summary)
if len(sys.argv) > 1:
    with open(sys.argv[1], "w") as f:
        f.write(summary + "\n")
sys.exit(1 if counts["fail"] or failed_pkg else 0)
