#!/bin/bash
# Runs COMMAND as a systemd service's [Service] section runs its ExecStart, on a machine where
# systemd is not PID 1 (tests/package.rs reads farmd.service and passes its settings here).
# Run as root. Every step execs the next, so the process started is the command's process.
#
#   PrivateMounts=, ProtectHostname=, RemoveIPC=   mount, UTS and IPC namespaces of its own
#   ProtectProc=invisible      a /proc of its own with hidepid=invisible
#   ProtectHome=yes            /home, /root, /run/user: empty, mode 000
#   ProtectKernelModules=yes   /usr/lib/modules: empty, mode 000 (and no capabilities)
#   ProtectKernelLogs=yes      /proc/kmsg: mode 000; no /dev/kmsg (and no syslog(2) in the filter)
#   ProtectClock=yes           no CAP_SYS_TIME, no /dev/rtc, no @clock calls in the filter
#   PrivateDevices=yes         a /dev of its own: null zero full random urandom tty, pts, shm
#   PrivateTmp=yes             empty /tmp and /var/tmp of its own
#   ProtectSystem=strict       every mount read-only...
#   ReadWritePaths=, StateDirectory=   ...except these (SANDBOX_WRITABLE)
#   ProtectKernelTunables=, ProtectControlGroups=   /proc/sys & co and all of /sys read-only
#   UMask=, WorkingDirectory=  umask and cd (inherited through the execs)
#   User=, Group=              setpriv --reuid --regid --init-groups
#   NoNewPrivileges=yes        setpriv --no-new-privs
#   CapabilityBoundingSet=, AmbientCapabilities=   setpriv --bounding-set -all --inh-caps -all
#   Environment=               env -i with the unit's variables and what systemd adds
#                              (SANDBOX_ENV, one NAME=VALUE a line)
#   SystemCallFilter=, SystemCallErrorNumber=, SystemCallArchitectures=, RestrictAddressFamilies=,
#   RestrictNamespaces=, LockPersonality=, RestrictSUIDSGID=, RestrictRealtime=
#                              a seccomp filter: syscall-filter.py (SANDBOX_FILTER, SANDBOX_FAMILIES)
#   ExecStart=                 COMMAND, the last exec
#
# Usage: SANDBOX_USER=farmd SANDBOX_GROUP=farmd SANDBOX_UMASK=0077 SANDBOX_WORKDIR=/var/lib/farmd \
#   SANDBOX_WRITABLE=/var/lib/farmd SANDBOX_ENV=... SANDBOX_FILTER=@system-service \
#   SANDBOX_FAMILIES="AF_UNIX AF_INET" as-unit.sh COMMAND [ARGS...]
set -euo pipefail

if [ -z "${SANDBOX_INSIDE:-}" ]; then
  SANDBOX_INSIDE=1 exec unshare --mount --uts --ipc --propagation private -- /bin/bash "$0" "$@"
fi
here="$(cd "$(dirname "$0")" && pwd)"
filter="$(cat "$here/syscall-filter.py")"

# Mode-000 stand-ins for what the service must not see (systemd's /run/systemd/inaccessible),
# on a scratch tmpfs that is unmounted again below (the bind mounts keep what they show).
mount -t tmpfs -o mode=0700 sandbox-scratch /tmp
mkdir -m 000 /tmp/dir
install -m 000 /dev/null /tmp/file
hide() {
  for path in "$@"; do
    [ -e "$path" ] || continue
    if [ -d "$path" ]; then mount --bind /tmp/dir "$path"; else mount --bind /tmp/file "$path"; fi
  done
}

mount -t proc -o nosuid,nodev,noexec,hidepid=invisible proc /proc
hide /home /root /run/user /usr/lib/modules /proc/kmsg

mount -t tmpfs -o nosuid,noexec,mode=0755 sandbox-dev /dev
for node in null:1:3 zero:1:5 full:1:7 random:1:8 urandom:1:9 tty:5:0; do
  IFS=: read -r name major minor <<<"$node"
  mknod -m 0666 "/dev/$name" c "$major" "$minor"
done
mkdir -m 0755 /dev/pts
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,nosuid,noexec devpts /dev/pts
ln -s pts/ptmx /dev/ptmx
mkdir -m 1777 /dev/shm
mount -t tmpfs -o mode=1777,nosuid,nodev sandbox-shm /dev/shm
ln -s /proc/self/fd /dev/fd
ln -s /proc/self/fd/0 /dev/stdin
ln -s /proc/self/fd/1 /dev/stdout
ln -s /proc/self/fd/2 /dev/stderr

umount /tmp
mount -t tmpfs -o mode=1777,nosuid,nodev sandbox-tmp /tmp
mount -t tmpfs -o mode=1777,nosuid,nodev sandbox-var-tmp /var/tmp

read -r -a writable <<<"$SANDBOX_WRITABLE"
for path in "${writable[@]}"; do
  mount --bind "$path" "$path"
done
for path in /proc/sys /proc/sysrq-trigger /proc/latency_stats /proc/acpi /proc/timer_stats /proc/asound \
  /proc/bus /proc/fs /proc/irq; do
  [ -e "$path" ] && mount --bind "$path" "$path"
done

# Everything read-only but the writable paths, the private /tmp, /var/tmp and /dev, and /proc
# itself (its kernel tunables are bind mounts of their own, made read-only here).
is_writable() {
  case "$1" in /proc | /tmp | /var/tmp | /dev | /dev/*) return 0 ;; esac
  for path in "${writable[@]}"; do
    case "$1" in "$path" | "$path"/*) return 0 ;; esac
  done
  return 1
}
while read -r _ _ _ _ target _; do
  target="$(printf '%b' "${target//\\/\\0}")" # mountinfo escapes spaces and such as \040
  is_writable "$target" || mount -o remount,bind,ro "$target"
done < <(sort -u -k5,5 /proc/self/mountinfo)

umask "$SANDBOX_UMASK"
cd "$SANDBOX_WORKDIR"
mapfile -t environment <<<"$SANDBOX_ENV"
exec setpriv --reuid "$SANDBOX_USER" --regid "$SANDBOX_GROUP" --init-groups --no-new-privs \
  --bounding-set -all --inh-caps -all -- \
  env -i "${environment[@]}" PYTHONCOERCECLOCALE=0 \
  /usr/bin/python3 -c "$filter" --filter "$SANDBOX_FILTER" --families "$SANDBOX_FAMILIES" -- "$@"
