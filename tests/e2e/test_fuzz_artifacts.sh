#!/usr/bin/env bash
# Fuzzer artifacts (crash-*, leak-*, timeout-*, oom-*, slow-unit-*: what libFuzzer writes
# when an input fails) never become part of the source tree: none is tracked outside
# tests/fuzz/crashes/ (the regression inputs, kept on purpose), scripts/fuzz sends every
# one to .fuzz/artifacts/NAME/ and runs the targets from .fuzz/, and git ignores both
# that folder and artifacts written at the top by a target run by hand.
. "$(dirname "$0")/lib.sh"
cd "$FH_SOURCE_DIR" || exit 1

if ! git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    echo "skipped: $FH_SOURCE_DIR is not a git checkout"
    done_checks
    exit 0
fi

pattern='(^|/)(crash|leak|timeout|oom|slow-unit)-[0-9a-f]{40}$'
tracked=$(git ls-files | grep -E "$pattern" | grep -v '^tests/fuzz/crashes/' || true)
check "no fuzzer artifact is tracked outside tests/fuzz/crashes/" "$tracked" ""

for f in .fuzz/artifacts/flow_yaml/crash-da39a3ee5e6b4b0d3255bfef95601890afd80709 \
         crash-da39a3ee5e6b4b0d3255bfef95601890afd80709 leak-0123 timeout-0123 oom-0123 \
         slow-unit-0123; do
    check "git ignores $f" "$(git check-ignore -q --no-index "$f" && echo yes || echo no)" "yes"
done
# The regression inputs themselves are not ignored.
check "git does not ignore tests/fuzz/crashes/" \
      "$(git check-ignore -q --no-index tests/fuzz/crashes/json/crash-0123 && echo yes || echo no)" "no"

# scripts/fuzz: every run of a target (the regression replays and the fuzzing) names
# where its artifacts go, and that is under .fuzz/artifacts/.
runs=$(grep -c '"\$bin"' scripts/fuzz)
prefixed=$(grep -c -- '-artifact_prefix="\$art/"' scripts/fuzz)
check "scripts/fuzz runs targets ($runs) each with -artifact_prefix ($prefixed)" \
      "$(( runs >= 2 && runs == prefixed ))" "1"
check "scripts/fuzz puts artifacts under .fuzz/artifacts/" \
      "$(grep -c '^  art=\$scratch/artifacts/\$t$' scripts/fuzz) $(grep -c '^scratch=\$root/.fuzz$' scripts/fuzz)" "1 1"
done_checks
