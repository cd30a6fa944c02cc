namespace Tiny.Runtime.Seccomp;

/// <summary>Filter return values, SECCOMP_RET_* of linux/seccomp.h (the action in the high 16 bits, data in the low 16).</summary>
public static class SeccompActions
{
    public const uint KillProcess = 0x80000000;
    public const uint KillThread = 0x00000000;
    public const uint Trap = 0x00030000;
    public const uint Errno = 0x00050000;
    public const uint UserNotif = 0x7FC00000;
    public const uint Trace = 0x7FF00000;
    public const uint Log = 0x7FFC0000;
    public const uint Allow = 0x7FFF0000;
    public const uint ActionMask = 0xFFFF0000;
    public const uint DataMask = 0x0000FFFF;

    public const int EPERM = 1;
    public const int ENOSYS = 38;
    /// <summary>libseccomp refuses SCMP_ACT_ERRNO(n) for n >= MAX_ERRNO (4095), so runc cannot load such a profile.</summary>
    public const uint MaxErrno = 4095;

    public static uint ErrnoOf(uint errno) => Errno | errno;

    /// <summary>
    /// Encodes a profile action as runc does: ERRNO and TRACE without errnoRet mean EPERM, KILL is KILL_THREAD.
    /// </summary>
    public static uint Parse(string? action, uint? errnoRet, string where)
    {
        switch (action)
        {
            case "SCMP_ACT_KILL" or "SCMP_ACT_KILL_THREAD": return KillThread;
            case "SCMP_ACT_KILL_PROCESS": return KillProcess;
            case "SCMP_ACT_TRAP": return Trap;
            case "SCMP_ACT_ALLOW": return Allow;
            case "SCMP_ACT_LOG": return Log;
            case "SCMP_ACT_ERRNO":
                var errno = errnoRet ?? EPERM;
                if (errno >= MaxErrno)
                    throw new ContainerError($"{where}: errnoRet {errno} is out of range (libseccomp accepts 0-{MaxErrno - 1})");
                return ErrnoOf(errno);
            case "SCMP_ACT_TRACE":
                var data = errnoRet ?? EPERM;
                if (data > DataMask)
                    throw new ContainerError($"{where}: errnoRet {data} does not fit SCMP_ACT_TRACE's 16 bits");
                return Trace | data;
            case "SCMP_ACT_NOTIFY":
                throw new ContainerError($"{where}: SCMP_ACT_NOTIFY (seccomp user notification) is not supported");
            case null or "":
                throw new ContainerError($"{where}: no action");
            default:
                throw new ContainerError($"{where}: unknown action \"{action}\"");
        }
    }

    /// <summary>Actions for which runc leaves out its -ENOSYS stub (patchbpf's isAllowAction).</summary>
    public static bool IsPermissive(uint action) => (action & ActionMask) is Allow or Log or Trace;

    public static string Describe(uint ret) => (ret & ActionMask) switch
    {
        KillProcess => "KILL_PROCESS",
        KillThread => "KILL_THREAD",
        Trap => "TRAP",
        Errno => $"ERRNO({ret & DataMask}{ErrnoName(ret & DataMask)})",
        UserNotif => "USER_NOTIF",
        Trace => $"TRACE({ret & DataMask})",
        Log => "LOG",
        Allow => "ALLOW",
        _ => $"0x{ret:x8}",
    };

    static string ErrnoName(uint errno) => errno switch
    {
        EPERM => " EPERM",
        ENOSYS => " ENOSYS",
        _ => "",
    };
}
