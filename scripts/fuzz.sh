#!/usr/bin/env bash
# Runs every native Go fuzz target in the repository (the main module and the
# deploy module) for FUZZTIME each (default 15s).
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-15s}
status=0
while IFS=: read -r file _ line; do
	name=$(sed -E 's/^func (Fuzz[A-Za-z0-9_]*).*/\1/' <<<"$line")
	dir=$(dirname "${file#./}")
	mod=.
	if [[ $dir == deploy/* ]]; then
		mod=deploy
		dir=${dir#deploy/}
	fi
	echo "== $mod: ./$dir $name ($fuzztime)"
	if ! (cd "$mod" && go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "./$dir"); then
		status=1
	fi
done < <(grep -rn --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]*\(' . | sort)
exit $status
