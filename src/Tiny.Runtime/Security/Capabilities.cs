namespace Tiny.Runtime.Security;

/// <summary>Linux capability numbers (capability(7), linux/capability.h).</summary>
public enum Capability
{
    Chown = 0, DacOverride = 1, DacReadSearch = 2, Fowner = 3, Fsetid = 4, Kill = 5, Setgid = 6,
    Setuid = 7, Setpcap = 8, LinuxImmutable = 9, NetBindService = 10, NetBroadcast = 11,
    NetAdmin = 12, NetRaw = 13, IpcLock = 14, IpcOwner = 15, SysModule = 16, SysRawio = 17,
    SysChroot = 18, SysPtrace = 19, SysPacct = 20, SysAdmin = 21, SysBoot = 22, SysNice = 23,
    SysResource = 24, SysTime = 25, SysTtyConfig = 26, Mknod = 27, Lease = 28, AuditWrite = 29,
    AuditControl = 30, Setfcap = 31, MacOverride = 32, MacAdmin = 33, Syslog = 34, WakeAlarm = 35,
    BlockSuspend = 36, AuditRead = 37, Perfmon = 38, Bpf = 39, CheckpointRestore = 40,
}

/// <summary>A set of capabilities as the kernel's 64-bit mask.</summary>
public readonly record struct CapabilitySet(ulong Mask)
{
    public const int Last = (int)Capability.CheckpointRestore;

    static readonly string[] Names =
    [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
        "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
        "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
        "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT",
        "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
        "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
        "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
        "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
    ];

    /// <summary>Docker's default set (moby oci/caps/defaults.go).</summary>
    public static CapabilitySet DockerDefault { get; } = Of(
        Capability.Chown, Capability.DacOverride, Capability.Fsetid, Capability.Fowner, Capability.Mknod,
        Capability.NetRaw, Capability.Setgid, Capability.Setuid, Capability.Setfcap, Capability.Setpcap,
        Capability.NetBindService, Capability.SysChroot, Capability.Kill, Capability.AuditWrite);

    public static CapabilitySet All { get; } = new((1UL << (Last + 1)) - 1);

    /// <summary>What `--cap-add ALL` gives: every capability in tiny's own bounding set (CapBnd in
    /// /proc/self/status), since no process can gain one outside it (capabilities(7)), as podman does
    /// for --privileged.</summary>
    public static CapabilitySet Bounding()
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith("CapBnd:", StringComparison.Ordinal))
                return new(ulong.Parse(line.AsSpan(7).Trim(), System.Globalization.NumberStyles.HexNumber) & All.Mask);
        return All;
    }

    public static CapabilitySet Of(params ReadOnlySpan<Capability> caps)
    {
        ulong mask = 0;
        foreach (var cap in caps) mask |= 1UL << (int)cap;
        return new(mask);
    }

    public bool Contains(Capability cap) => (Mask & (1UL << (int)cap)) != 0;
    public CapabilitySet With(Capability cap) => new(Mask | (1UL << (int)cap));
    public CapabilitySet Without(Capability cap) => new(Mask & ~(1UL << (int)cap));

    public IEnumerable<Capability> Members()
    {
        for (var i = 0; i <= Last; i++)
            if ((Mask & (1UL << i)) != 0) yield return (Capability)i;
    }

    public static string NameOf(Capability cap) => Names[(int)cap];

    /// <summary>Parses "CAP_SYS_ADMIN", "SYS_ADMIN" or "sys_admin" (as Docker and runc accept).</summary>
    public static bool TryParse(string text, out Capability cap)
    {
        var upper = text.Trim().ToUpperInvariant();
        if (!upper.StartsWith("CAP_", StringComparison.Ordinal)) upper = "CAP_" + upper;
        var index = Array.IndexOf(Names, upper);
        cap = (Capability)Math.Max(index, 0);
        return index >= 0;
    }

    public override string ToString() => string.Join(',', Members().Select(NameOf));
}
