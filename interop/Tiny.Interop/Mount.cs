namespace Tiny.Interop;

/// <summary>mount(2) and umount2(2) flags (linux/mount.h).</summary>
public static class Mount
{
    public const ulong MS_RDONLY = 0x1, MS_NOSUID = 0x2, MS_NODEV = 0x4, MS_NOEXEC = 0x8,
        MS_REMOUNT = 0x20, MS_NOATIME = 0x400, MS_BIND = 0x1000, MS_MOVE = 0x2000, MS_REC = 0x4000,
        MS_PRIVATE = 0x40000, MS_SLAVE = 0x80000, MS_SHARED = 0x100000, MS_STRICTATIME = 0x1000000,
        MS_SYNCHRONOUS = 0x10, MS_DIRSYNC = 0x80, MS_NODIRATIME = 0x800, MS_UNBINDABLE = 0x20000, MS_RELATIME = 0x200000;

    public const int MNT_DETACH = 2;
}

/// <summary>Namespace flags for clone(2) and unshare(2) (linux/sched.h).</summary>
public static class Namespace
{
    public const ulong CLONE_NEWNS = 0x20000, CLONE_NEWCGROUP = 0x2000000, CLONE_NEWUTS = 0x4000000,
        CLONE_NEWIPC = 0x8000000, CLONE_NEWUSER = 0x10000000, CLONE_NEWPID = 0x20000000,
        CLONE_NEWNET = 0x40000000;
}

/// <summary>prctl(2) options and capability constants (linux/prctl.h, linux/capability.h).</summary>
public static class Prctl
{
    public const int PR_SET_PDEATHSIG = 1, PR_GET_DUMPABLE = 3, PR_SET_DUMPABLE = 4, PR_SET_KEEPCAPS = 8, PR_SET_NAME = 15, PR_CAPBSET_READ = 23, PR_CAPBSET_DROP = 24,
        PR_SET_NO_NEW_PRIVS = 38, PR_CAP_AMBIENT = 47, PR_CAP_AMBIENT_CLEAR_ALL = 4, PR_CAP_AMBIENT_RAISE = 2;

    public const uint LINUX_CAPABILITY_VERSION_3 = 0x20080522;

    public const int SECCOMP_SET_MODE_FILTER = 1;
}
