package soak

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// window is the width of the rows of the errors table.
const window = 10 * time.Second

// report prints the run's figures and returns its Result; the last line
// printed is the verdict.
func report(w io.Writer, workers []*worker, events []event, ck *Checker, elapsed time.Duration) Result {
	var total seconds
	others := map[string]int{}
	for _, wk := range workers {
		for sec, c := range wk.counts {
			total.grow(sec)
			for cl, n := range c {
				total[sec][cl] += n
			}
		}
		for k, n := range wk.others {
			others[k] += n
		}
	}
	var res Result
	var sums [numClasses]int
	for _, c := range total {
		for cl, n := range c {
			sums[cl] += n
			res.Ops += n
		}
	}
	res.Errors = res.Ops - sums[classOK]

	fmt.Fprintf(w, "soak: topology changes and faults (%d):\n", len(events))
	for i, ev := range events {
		status := "ok"
		if ev.err != nil {
			status = "error: " + ev.err.Error()
		}
		fmt.Fprintf(w, "  %2d  at %6.1fs  %-40s took %5.1fs  %s\n", i+1, ev.at.Seconds(), ev.what, ev.took.Seconds(), status)
	}

	fmt.Fprintf(w, "soak: requests and errors by cause, per %s window:\n", window)
	fmt.Fprintf(w, "  %-11s %9s %8s %9s %6s %8s %6s\n", "window", "ops", "ops/s", "ETMPFAIL", "conn", "timeout", "other")
	per := int(window / time.Second)
	for from := 0; from < len(total); from += per {
		var row [numClasses]int
		n := 0
		for s := from; s < min(from+per, len(total)); s++ {
			for cl := range row {
				row[cl] += total[s][cl]
				n += total[s][cl]
			}
		}
		width := min(from+per, len(total)) - from
		fmt.Fprintf(w, "  %4ds-%4ds %9d %8.0f %9d %6d %8d %6d\n", from, from+width, n, float64(n)/float64(width),
			row[classTmpfail], row[classConn], row[classTimeout], row[classOther])
	}

	fmt.Fprintf(w, "soak: worst error window after each change (errors until the next change, at most %s):\n", window)
	for i, ev := range events {
		from := int(ev.at / time.Second)
		to := min(from+per, len(total))
		if i+1 < len(events) {
			to = min(to, int(events[i+1].at/time.Second))
		}
		errs, worst, first, last := 0, 0, -1, -1
		for s := from; s < to; s++ {
			e := 0
			for cl := classOK + 1; cl < numClasses; cl++ {
				e += total[s][cl]
			}
			errs += e
			if e > 0 {
				if first < 0 {
					first = s
				}
				last = s
			}
			worst = max(worst, e)
		}
		if errs == 0 {
			fmt.Fprintf(w, "  %2d  %-40s no errors\n", i+1, ev.what)
			continue
		}
		fmt.Fprintf(w, "  %2d  %-40s %d errors from +%ds to +%ds, worst second %d\n", i+1, ev.what, errs, first-from, last-from+1, worst)
	}

	fmt.Fprintf(w, "soak: by protocol:")
	for i, proto := range []string{protoBinary, protoText} {
		clients, ops, errs := 0, 0, 0
		for _, wk := range workers {
			if wk.proto != proto {
				continue
			}
			clients++
			for _, c := range wk.counts {
				for cl, n := range c {
					ops += n
					if cl != classOK {
						errs += n
					}
				}
			}
		}
		sep := ";"
		if i == 0 {
			sep = ""
		}
		fmt.Fprintf(w, "%s %s %d clients, %d requests, %d errors", sep, proto, clients, ops, errs)
	}
	fmt.Fprintln(w)

	var other []string
	for k, n := range others {
		other = append(other, fmt.Sprintf("%s %d", k, n))
	}
	sort.Strings(other)
	fmt.Fprintf(w, "soak: %d requests in %.0fs (%.0f ops/s); %d errors: ETMPFAIL %d, conn %d, timeout %d, other %d %s\n",
		res.Ops, elapsed.Seconds(), float64(res.Ops)/elapsed.Seconds(), res.Errors,
		sums[classTmpfail], sums[classConn], sums[classTimeout], sums[classOther], strings.Join(other, ", "))
	res.Violations = ck.Violations()
	for i, v := range res.Violations {
		if i == 20 {
			fmt.Fprintf(w, "  ... %d more\n", len(res.Violations)-20)
			break
		}
		fmt.Fprintf(w, "  VIOLATION %s\n", v)
	}
	res.Lost, res.Stale = ck.Count("lost write"), ck.Count("stale read")
	casBad, incrBad := ck.Count("cas"), ck.Count("incr")
	res.Pass = res.Lost == 0 && res.Stale == 0 && casBad == 0 && incrBad == 0 && sums[classOther] == 0
	fmt.Fprintf(w, "soak: CAS violations %d, incr violations %d, unexpected statuses %d; reads of a timed-out write applied late (after a newer acknowledged one) %d\n",
		casBad, incrBad, sums[classOther], ck.Count("late"))
	verdict := "PASS"
	if !res.Pass {
		verdict = "FAIL"
	}
	fmt.Fprintf(w, "soak: %d lost acknowledged writes, %d stale reads: %s\n", res.Lost, res.Stale, verdict)
	return res
}
