"""CPU figures of processes from /proc, for the benchmarks (bench/peers.py, bench/broker_settings.py)."""
import os
import re
import subprocess

CLK_TCK = os.sysconf("SC_CLK_TCK")


def stat_cpu_s(path):
    """utime + stime of one /proc/.../stat, in seconds (the fields after the command name: 14 and 15)."""
    text = open(path).read()
    f = text.rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / CLK_TCK


def cpu_s(pid):
    """CPU seconds used so far by pid and its descendants (all their threads)."""
    total = 0.0
    for p in [pid] + descendants(pid):
        try:
            total += stat_cpu_s(f"/proc/{p}/stat")
        except (OSError, IndexError, ValueError):
            pass
    return total


def tids(pid):
    """The thread ids of pid ([] once it is gone)."""
    try:
        return [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        return []


def thread_group(comm):
    """A thread's name (comm, cut at 15 characters) without its trailing digits, so "GC Thread#0".."#3" are one
    group."""
    return re.sub(r"[-_ ]?\d+$", "", comm)


TIMEHIST_RE = re.compile(r"\s*([\d.]+)\s+\[(\d+)\]\s+(.+?)\[(\d+)(?:/(\d+))?\]\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s*$")


def sched_timehist(data):
    """`perf sched timehist` of a `perf sched record` file, one tuple per switch-out: (cpu, comm, tid, start,
    end, delay) in ms on the recording's clock. The task ran from start to end, and before that waited runnable
    for delay ms. None when perf cannot read it."""
    rep = subprocess.run(["perf", "sched", "timehist", "-i", str(data)], capture_output=True, text=True)
    if rep.returncode != 0:
        return None
    out = []
    for line in rep.stdout.splitlines():
        m = TIMEHIST_RE.match(line)
        if m:
            end, run = float(m.group(1)) * 1e3, float(m.group(8))
            out.append((int(m.group(2)), m.group(3).strip(), int(m.group(4)), end - run, end, float(m.group(7))))
    return out


def threads_cpu(pid):
    """CPU seconds so far per thread group of pid (thread_group)."""
    out = {}
    for tid in tids(pid):
        try:
            name = thread_group(open(f"/proc/{pid}/task/{tid}/comm").read().strip())
            out[name] = out.get(name, 0.0) + stat_cpu_s(f"/proc/{pid}/task/{tid}/stat")
        except (OSError, IndexError, ValueError):
            pass
    return out


def jit_cpu_s(pid):
    """CPU seconds of a JVM's JIT compiler threads ("C1 CompilerThre", "C2 CompilerThre")."""
    return sum(v for name, v in threads_cpu(pid).items() if "CompilerThre" in name)


# A JVM is judged warm when its JIT threads used under this share of its CPU over its last two rounds together (C2
# goes on compiling now and then for minutes: a rule of "no JIT at all" never settles).
JIT_SETTLED_SHARE = 0.10

# The most rounds of 2,000 ping-pong round trips a fresh broker is warmed with (peers.py, broker_shape.py,
# broker_settings.py). 12 never settled: on 2026-12-06 a fresh broker on CPU 0 kept its JIT at 40 to 69% of its
# CPU for 10 rounds, and its CPU per round trip went from 2.5 ms in the first round to 0.37 in the tenth and 0.10
# from about the twentieth on (jit_settled's rule met at rounds 23 and 20 in two starts): the floor every earlier
# side-by-side measured was a broker still compiling. The warm-up stops at its first settled pair of rounds.
BROKER_WARM_ROUNDS = 40


def jit_mark(pid):
    """Where a JVM's CPU and JIT CPU stand now, for jit_since."""
    return cpu_s(pid), jit_cpu_s(pid)


def jit_since(pid, mark):
    """(CPU seconds, JIT CPU seconds, JIT share of the CPU) since mark."""
    cpu, jit = cpu_s(pid) - mark[0], jit_cpu_s(pid) - mark[1]
    return cpu, jit, round(jit / cpu, 3) if cpu > 0 else 1.0


def jit_settled(rounds):
    """True when the JIT used under JIT_SETTLED_SHARE of the JVM's CPU over the last two rounds together; each round
    is what jit_since returned for it. Together, not each under it: /proc counts CPU in 10 ms ticks, and a warm
    broker's round of 2,000 round trips is about 0.2 s of its CPU, so one tick moves a round's share by 5 points
    (a fresh broker warm from its twentieth round still had one round in three over 10% on its own)."""
    if len(rounds) < 2:
        return False
    cpu, jit = sum(r[0] for r in rounds[-2:]), sum(r[1] for r in rounds[-2:])
    return cpu > 0 and jit / cpu < JIT_SETTLED_SHARE


def warm_broker_rounds(pid, one_round, log, rounds_max=BROKER_WARM_ROUNDS):
    """Warms the fresh broker pid: calls one_round() (a ping-pong run; its JSON's count, p50_ms and p99_ms) until
    jit_settled, at most rounds_max times. Returns (rounds, settled); each round holds its p50 and p99, the
    broker's CPU per round trip and its JIT's CPU over the whole round, and the JIT's share: the first round is the
    cold figure, the last the warm one. The one warm-up of peers.py, broker_shape.py and broker_settings.py."""
    rounds, jits = [], []
    for i in range(rounds_max):
        mark = jit_mark(pid)
        r = one_round()
        jits.append(jit_since(pid, mark))
        cpu, jit, share = jits[-1]
        rounds.append({"round_trips": r["count"], "p50_ms": r["p50_ms"], "p99_ms": r["p99_ms"],
                       "broker_cpu_ms_per_round_trip": round(cpu * 1e3 / r["count"], 4),
                       "jit_cpu_ms": round(jit * 1e3, 1), "jit_share": share})
        log(f"  broker round {i + 1}: p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms, broker CPU "
            f"{rounds[-1]['broker_cpu_ms_per_round_trip']:.3f} ms per round trip, JIT {jit * 1e3:.0f} ms")
        if jit_settled(jits):
            return rounds, True
    return rounds, False


def descendants(pid):
    out = subprocess.run(["ps", "-e", "-o", "pid=,ppid="], capture_output=True, text=True).stdout.split("\n")
    children = {}
    for line in out:
        if line.strip():
            c, p = map(int, line.split())
            children.setdefault(p, []).append(c)
    found, stack = [], [pid]
    while stack:
        for c in children.get(stack.pop(), []):
            found.append(c)
            stack.append(c)
    return found
