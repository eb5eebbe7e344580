#!/usr/bin/python3
"""Loads the seccomp filter systemd builds for farmd.service, then runs the command.

For machines where systemd is not PID 1 (tests/package.rs): what these unit settings do,
with libseccomp (python3-seccomp), as the last step before the unit's ExecStart:

  SystemCallFilter=GROUP... + SystemCallErrorNumber=EPERM   allow list, EPERM for the rest
  SystemCallArchitectures=native      the filter covers the native ABI only (others: killed)
  RestrictAddressFamilies=AF_...      socket() for those families only
  RestrictNamespaces=yes              no unshare/clone with namespace flags, no setns,
                                      clone3 answers ENOSYS (its flags are out of reach)
  LockPersonality=yes                 personality() may only query or keep PER_LINUX
  RestrictSUIDSGID=yes                chmod, fchmod, fchmodat may not set S_ISUID/S_ISGID
  RestrictRealtime=yes                sched_setscheduler() to non-realtime policies only

The groups (@system-service...) are expanded from `systemd-analyze syscall-filter`, the
same tables systemd uses. Needs no_new_privs set before (setpriv --no-new-privs), as
systemd does for NoNewPrivileges=yes.

Usage: syscall-filter.py --filter "@system-service" --families "AF_UNIX AF_INET" -- COMMAND [ARGS...]
"""

import errno
import os
import socket
import subprocess
import sys

import seccomp

NAMESPACE_FLAGS = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000 | 0x80
SUID_SGID = 0o6000
# Syscalls with argument checks below, kept out of the plain allow list.
CHECKED = {"socket", "unshare", "clone", "clone3", "setns", "personality", "chmod", "fchmod", "fchmodat",
           "sched_setscheduler"}


def groups():
    """Every group systemd knows, name -> members (syscalls and @groups)."""
    table = subprocess.run(["systemd-analyze", "syscall-filter", "--no-pager"], check=True,
                           capture_output=True, text=True).stdout
    result, current = {}, None
    for line in table.splitlines():
        if line.startswith("@"):
            current = result.setdefault(line.strip(), [])
        elif current is not None and line.strip() and not line.strip().startswith("#"):
            current.append(line.strip())
    return result


def expand(names, table):
    syscalls, pending, seen = set(), list(names), set()
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        if name.startswith("@"):
            pending.extend(table[name])
        else:
            syscalls.add(name)
    return syscalls


def main():
    args = sys.argv[1:]
    split = args.index("--")
    options, command = args[:split], args[split + 1:]
    settings = dict(zip(options[::2], options[1::2]))
    allowed = expand(settings["--filter"].split(), groups())
    families = [getattr(socket, family) for family in settings["--families"].split()]

    rules = seccomp.SyscallFilter(defaction=seccomp.ERRNO(errno.EPERM))
    for name in sorted(allowed - CHECKED):
        try:
            rules.add_rule(seccomp.ALLOW, name)
        except (RuntimeError, ValueError):
            pass  # a syscall this architecture does not have
    for family in families:
        rules.add_rule(seccomp.ALLOW, "socket", seccomp.Arg(0, seccomp.EQ, int(family)))
    rules.add_rule(seccomp.ALLOW, "unshare", seccomp.Arg(0, seccomp.MASKED_EQ, NAMESPACE_FLAGS, 0))
    rules.add_rule(seccomp.ALLOW, "clone", seccomp.Arg(0, seccomp.MASKED_EQ, NAMESPACE_FLAGS, 0))
    rules.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")
    for persona in (0, 0xFFFFFFFF):
        rules.add_rule(seccomp.ALLOW, "personality", seccomp.Arg(0, seccomp.EQ, persona))
    for name, mode_arg in (("chmod", 1), ("fchmod", 1), ("fchmodat", 2)):
        rules.add_rule(seccomp.ALLOW, name, seccomp.Arg(mode_arg, seccomp.MASKED_EQ, SUID_SGID, 0))
    for policy in (0, 3, 5):  # SCHED_OTHER, SCHED_BATCH, SCHED_IDLE
        rules.add_rule(seccomp.ALLOW, "sched_setscheduler", seccomp.Arg(1, seccomp.EQ, policy))
    # as-unit.sh keeps Python from setting LC_CTYPE in the environment it passes on.
    environment = {name: value for name, value in os.environ.items() if name != "PYTHONCOERCECLOCALE"}
    rules.load()
    os.execve(command[0], command, environment)


if __name__ == "__main__":
    main()
