#!/usr/bin/env python3
"""p99_stamps.py - where minqing's paced submit->dispatch time goes, case by case.

Reads what a broker and simworkers built with bench/p99-stamps.patch wrote
into DIR (default /tmp/inst_out) during `SYSTEMS=minqing N=1000 B=... sh
bench/run.sh`: per loop pass its wake-up and its commit's start and end, per
SUBMIT the pass that took it, per DISPATCH when it left, per checkpoint pass
its start and end, and per case when the worker had it. All CLOCK_MONOTONIC
ns, against the producer's stamp in the case (mono_ns=). The largest broker
file is the paced run's. See bench/README.md ("Where the paced p99 goes").
"""
import bisect
import glob
import os
import statistics
import sys

D = sys.argv[1] if len(sys.argv) > 1 else '/tmp/inst_out'
PARTS = ['arrive', 'drain', 'pre', 'commit', 'post', 'out']


def largest(pattern, k=1):
    return sorted(glob.glob(os.path.join(D, pattern)), key=os.path.getsize)[-k:]


def load():
    bfile = largest('b-*.txt')[0]
    passes, recv, disp = {}, {}, {}
    for line in open(bfile):
        x = line.split()
        if x[0] == 'P':
            passes[int(x[1])] = tuple(int(v) for v in x[2:6])    # wake, commit start, end, dirty
        elif x[0] == 'R':
            recv[int(x[1])] = (int(x[2]), int(x[3]))              # stamp -> (drained, pass)
        elif x[0] == 'D':
            disp.setdefault(int(x[1]), int(x[2]))                 # stamp -> sent to the worker
    got = {}
    for f in largest('w-*.txt', 4):
        for line in open(f):
            s, t = map(int, line.split())
            got[s] = t
    ck = os.path.join(D, 'c-%s.txt' % os.path.basename(bfile)[2:-4])
    cps = sorted(tuple(map(int, l.split())) for l in open(ck)) if os.path.exists(ck) else []
    return passes, recv, disp, got, cps


def cases(passes, recv, disp, got):
    rows = []
    for s, t in got.items():
        if s not in recv or s not in disp:
            continue
        drained, p = recv[s]
        wake, cs, ce, _ = passes[p]
        rows.append({'total': t - s, 'arrive': wake - s, 'drain': drained - wake,
                     'pre': cs - drained, 'commit': ce - cs, 'post': disp[s] - ce,
                     'out': t - disp[s], 'sent': s, 'pass': p})
    return sorted(rows, key=lambda r: r['total'])


def ms(v):
    return '%.3f' % (v / 1e6)


def main():
    passes, recv, disp, got, cps = load()
    rows = cases(passes, recv, disp, got)
    n = len(rows)
    tail = rows[-(n // 100):]
    print('cases', n)
    for name, sel in (('median 300', rows[n // 2 - 150:n // 2 + 150]), ('slowest 1%', tail)):
        print('%-11s' % name, ' '.join('%s %s' % (k, ms(statistics.mean(r[k] for r in sel)))
                                       for k in ['total'] + PARTS))
    dom = {}
    for r in tail:
        k = max(PARTS, key=lambda k: r[k])
        dom[k] = dom.get(k, 0) + 1
    print('largest part in the slowest 1%:', dom)
    # where the loop was when the slowest-arriving submissions were sent
    where = {}
    for r in sorted(rows, key=lambda r: r['arrive'])[-(n // 100):]:
        _, cs, ce, _ = passes.get(r['pass'] - 1, (0, 0, 0, 0))
        k = ('in the commit before' if cs <= r['sent'] <= ce else
             'after it (replies, dispatch, WAL copy)' if r['sent'] > ce else
             'before it (its pass still reading)')
        where[k] = where.get(k, 0) + 1
    print('slowest 1% of arrivals, sent while the loop was:', where)
    commits = [(cs, ce) for (_, cs, ce, dirty) in passes.values() if dirty and ce > cs]
    if cps:
        starts = [s for s, _ in cps]

        def during(a, z):
            i = bisect.bisect_right(starts, z) - 1
            return i >= 0 and cps[i][1] > a

        for name, sel in (('during a checkpoint', [z - a for a, z in commits if during(a, z)]),
                          ('outside', [z - a for a, z in commits if not during(a, z)])):
            sel.sort()
            print('commits %-20s n %6d p50 %s p99 %s' % (name, len(sel), ms(sel[len(sel) // 2]),
                                                       ms(sel[len(sel) * 99 // 100])))


main()
