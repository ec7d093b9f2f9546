#!/usr/bin/env python3
"""Give a process a scheduling slice: every thread of a running process, or a command and every thread it starts.

    python3 scripts/sched_slice.py US [--except NAME ...] --pid PID [PID ...]
    python3 scripts/sched_slice.py US -- COMMAND [ARG ...]

On Linux 6.12 and later a SCHED_OTHER thread may ask for its slice (sched_setattr's sched_runtime). One that wakes
with a short slice may preempt a thread running a long burst on its CPU instead of waiting out that thread's slice
(1.4 ms on two CPUs). llmgw's ingress and worker ask for one themselves (sched_slice_us, docs/CONFIG.md). This is
for the services that share their core and have no such setting: the Kafka broker and Redis. Threads started
later inherit the slice from the thread that starts them, so a command started through this, and a running
process whose threads all have it, keep it. Policy and nice value are kept. US is clamped to 100..100000 as the
kernel does; 0 gives back the kernel's default. A newer util-linux chrt does the same (`chrt -o -T NS`, in its
2.42 manual); Debian 12's 2.38 cannot.

--except NAME (repeatable, with --pid only) leaves alone the threads whose name (/proc/PID/task/TID/comm) starts
with NAME: e.g. a JVM's collector threads ("Shenandoah"), whose long concurrent runs a short slice preempts more
often. Threads they start later inherit what they have.
"""
import ctypes
import os
import platform
import struct
import sys

# sched_getattr / sched_setattr (glibc 2.36 wraps neither).
NR = {"x86_64": (315, 314), "aarch64": (275, 274)}
ATTR = "IIQiIQQQ"  # size, policy, flags, nice, priority, runtime, deadline, period: the first 48 bytes
SCHED_OTHER, SCHED_BATCH = 0, 3
LIBC = ctypes.CDLL(None, use_errno=True)


def set_thread(tid, us):
    """The slice of one thread (tid 0: the calling thread). Returns None, or why it was not set."""
    nrs = NR.get(platform.machine())
    if nrs is None:
        return f"no sched_setattr number known for {platform.machine()}"
    buf = ctypes.create_string_buffer(struct.calcsize(ATTR))
    if LIBC.syscall(nrs[0], tid, buf, len(buf), 0) != 0:
        return os.strerror(ctypes.get_errno())
    size, policy, _flags, nice, prio, _runtime, deadline, period = struct.unpack(ATTR, buf.raw)
    if policy not in (SCHED_OTHER, SCHED_BATCH):
        return "not SCHED_OTHER or SCHED_BATCH: left alone"
    runtime = 0 if us <= 0 else min(max(us, 100), 100_000) * 1000
    # Everything as read, with the slice: sched_setattr would otherwise reset the nice value.
    new = ctypes.create_string_buffer(struct.pack(ATTR, len(buf), policy, 0, nice, prio, runtime, deadline, period))
    if LIBC.syscall(nrs[1], tid, new, 0) != 0:
        return os.strerror(ctypes.get_errno())
    return None


def thread_name(pid, tid):
    """A thread's name; "" when it has ended."""
    try:
        with open(f"/proc/{pid}/task/{tid}/comm") as f:
            return f.read().rstrip("\n")
    except OSError:
        return ""


def set_process(pid, us, skip=()):
    """Every thread of a running process but those whose name starts with one of skip. Returns {tid: why not}
    for the threads it could not set."""
    failed = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        if skip and thread_name(pid, tid).startswith(tuple(skip)):
            continue
        why = set_thread(int(tid), us)
        if why is not None and os.path.exists(f"/proc/{pid}/task/{tid}"):  # a thread that ended meanwhile is fine
            failed[int(tid)] = why
    return failed


def main(argv):
    skip = []
    while len(argv) > 2 and argv[1] == "--except":
        skip.append(argv[2])
        argv = argv[:1] + argv[3:]
    if len(argv) < 3 or argv[1] not in ("--pid", "--") or (skip and argv[1] != "--pid") or "" in skip:
        sys.stderr.write(__doc__)
        return 2
    try:
        us = int(argv[0])
    except ValueError:
        sys.stderr.write(f"sched_slice.py: the slice must be a number of microseconds, not {argv[0]!r}\n")
        return 2
    if argv[1] == "--":
        why = set_thread(0, us)
        if why is not None:
            sys.stderr.write(f"sched_slice.py: cannot set the slice: {why}\n")
            return 1
        try:
            os.execvp(argv[2], argv[2:])
        except OSError as e:
            sys.stderr.write(f"sched_slice.py: cannot run {argv[2]}: {e.strerror}\n")
            return 127
    rc = 0
    for pid in argv[2:]:
        try:
            failed = set_process(int(pid), us, skip)
        except (ValueError, FileNotFoundError):
            sys.stderr.write(f"sched_slice.py: no process {pid}\n")
            rc = 1
            continue
        for tid, why in failed.items():
            sys.stderr.write(f"sched_slice.py: process {pid} thread {tid}: {why}\n")
            rc = 1
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
