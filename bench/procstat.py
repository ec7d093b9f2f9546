"""CPU figures of processes from /proc, for the benchmarks (bench/peers.py, bench/broker_settings.py)."""
import os
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


def jit_cpu_s(pid):
    """CPU seconds of a JVM's JIT compiler threads ("C1 CompilerThre", "C2 CompilerThre": comm is cut at 15)."""
    total = 0.0
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0.0
    for task in tasks:
        try:
            text = open(f"/proc/{pid}/task/{task}/stat").read()
            if "CompilerThre" in text[text.index("(") + 1:text.rindex(")")]:
                total += stat_cpu_s(f"/proc/{pid}/task/{task}/stat")
        except (OSError, IndexError, ValueError):
            pass
    return total


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
