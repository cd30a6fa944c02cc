namespace Tiny.Runtime.Cgroups;

/// <summary>The limits a container's cgroup gets; null means unlimited / left as the kernel sets it.</summary>
/// <param name="CpuPeriodMicros">The CFS period <paramref name="CpuQuotaMicros"/> is measured against [default: <see cref="CpuPeriodMicros"/>].</param>
/// <param name="CpuShares">cgroup v1 cpu.shares as OCI configs give it (v2 gets the weight runc derives from it).</param>
public sealed record ResourceLimits(long? MemoryBytes = null, long? CpuQuotaMicros = null, int? CpuWeight = null, long? PidsMax = null,
    long? CpuPeriod = null, long? CpuShares = null)
{
    /// <summary>Device cgroup rules in order (OCI linux.resources.devices), null to leave device access as it is.</summary>
    public IReadOnlyList<DeviceRule>? DeviceRules { get; init; }

    /// <summary>Memory plus swap, as OCI's memory.swap and v1's memory.memsw.limit_in_bytes count it; -1 for unlimited.</summary>
    public long? MemorySwapBytes { get; init; }

    /// <summary>Block I/O weights and throttles (OCI linux.resources.blockIO), null to leave block I/O as it is.</summary>
    public BlockIoLimits? BlockIo { get; init; }

    /// <summary>Huge page limits per page size (OCI linux.resources.hugepageLimits), null to leave them as they are.</summary>
    public IReadOnlyList<HugepageLimit>? HugepageLimits { get; init; }

    /// <summary>The CFS period that --cpus is expressed against, as Docker uses.</summary>
    public const long CpuPeriodMicros = 100_000;

    public static ResourceLimits None { get; } = new();

    /// <summary>cgroup v1 cpu.shares for a v2 cpu.weight: the least shares that runc's mapping
    /// weight = 1 + (shares - 2) * 9999 / 262142 turns back into this weight.</summary>
    public static long SharesForWeight(int weight) => 2 + ((weight - 1L) * 262142 + 9998) / 9999;

    /// <summary>runc's cpu.shares to cpu.weight mapping (cgroups ConvertCPUSharesToCgroupV2Value).</summary>
    public static int WeightForShares(long shares) => (int)(1 + (shares - 2) * 9999 / 262142);

    public long Period => CpuPeriod ?? CpuPeriodMicros;
    public bool LimitsCpu => CpuQuotaMicros is not null || CpuPeriod is not null || CpuWeight is not null || CpuShares is not null;
}

/// <summary>linux.resources.blockIO: the cgroup's weight and leaf weight (10 to 1000), per-device weights and throttles.</summary>
public sealed record BlockIoLimits(int? Weight = null, int? LeafWeight = null)
{
    public IReadOnlyList<DeviceWeight> WeightDevices { get; init; } = [];
    public IReadOnlyList<DeviceRate> ReadBps { get; init; } = [];
    public IReadOnlyList<DeviceRate> WriteBps { get; init; } = [];
    public IReadOnlyList<DeviceRate> ReadIops { get; init; } = [];
    public IReadOnlyList<DeviceRate> WriteIops { get; init; } = [];

    /// <summary>Each throttle with its v1 file (blkio.throttle.NAME) and its v2 io.max key.</summary>
    public IEnumerable<(string V1File, string V2Key, IReadOnlyList<DeviceRate> Rates)> Throttles =>
    [
        ("blkio.throttle.read_bps_device", "rbps", ReadBps), ("blkio.throttle.write_bps_device", "wbps", WriteBps),
        ("blkio.throttle.read_iops_device", "riops", ReadIops), ("blkio.throttle.write_iops_device", "wiops", WriteIops),
    ];

    public bool IsEmpty => Weight is null && LeafWeight is null && WeightDevices.Count == 0 && Throttles.All(t => t.Rates.Count == 0);

    /// <summary>runc's blkio weight (10-1000) to io.weight (1-10000) mapping (cgroups ConvertBlkIOToIOWeightValue).</summary>
    public static int IoWeight(int weight) => 1 + (weight - 10) * 9999 / 990;
}

/// <summary>A weight for one block device, as "MAJ:MIN WEIGHT" lines take it.</summary>
public sealed record DeviceWeight(long Major, long Minor, int? Weight, int? LeafWeight)
{
    public string Device => $"{Major}:{Minor}";
}

/// <summary>A throttle for one block device: bytes or operations per second.</summary>
public sealed record DeviceRate(long Major, long Minor, ulong Rate)
{
    public string Device => $"{Major}:{Minor}";
}

/// <summary>A huge page limit in bytes for one page size, named as the cgroup files name it ("2MB", "1GB").</summary>
public sealed record HugepageLimit(string PageSize, ulong Limit)
{
    public const string SysfsDirectory = "/sys/kernel/mm/hugepages";

    /// <summary>The huge page sizes of this host, from its hugepages-NkB directories.</summary>
    public static IReadOnlyList<string> HostSizes(string sysfs = SysfsDirectory) =>
        Directory.Exists(sysfs) ? [.. Directory.GetDirectories(sysfs).Select(d => SizeName(Path.GetFileName(d))).OfType<string>()] : [];

    /// <summary>The cgroup name of a huge page size from its sysfs directory ("hugepages-2048kB" is "2MB"), as runc's
    /// HugePageSizes names them: the size in the largest binary unit that keeps it at least 1.</summary>
    public static string? SizeName(string directory)
    {
        if (!directory.StartsWith("hugepages-", StringComparison.Ordinal) || !directory.EndsWith("kB", StringComparison.Ordinal)
            || !long.TryParse(directory.AsSpan()["hugepages-".Length..^2], out var kilobytes)) return null;
        string[] units = ["KB", "MB", "GB", "TB", "PB"];
        double size = kilobytes;
        var unit = 0;
        for (; size >= 1024 && unit < units.Length - 1; unit++) size /= 1024;
        return size.ToString("G", System.Globalization.CultureInfo.InvariantCulture) + units[unit];
    }
}

/// <summary>One device cgroup rule: <paramref name="Type"/> 'a' (all), 'c' or 'b'; a null major or minor is any.</summary>
public sealed record DeviceRule(bool Allow, char Type, long? Major, long? Minor, string Access)
{
    /// <summary>The line for v1 devices.allow / devices.deny ("c 1:3 rwm"); all devices is just "a" (cgroup-v1/devices.rst).</summary>
    public string V1Line => Type == 'a' ? "a" : $"{Type} {Major?.ToString() ?? "*"}:{Minor?.ToString() ?? "*"} {Access}";

    /// <summary>runc's default allow list, appended after a config's rules (libcontainer/specconv AllowedDevices):
    /// the standard nodes, every pty and /dev/ptmx, /dev/net/tun, and mknod of any char or block device.</summary>
    public static readonly DeviceRule[] RuncDefaults =
    [
        new(true, 'c', null, null, "m"), new(true, 'b', null, null, "m"),
        new(true, 'c', 1, 3, "rwm"), new(true, 'c', 1, 8, "rwm"), new(true, 'c', 1, 7, "rwm"), new(true, 'c', 5, 0, "rwm"),
        new(true, 'c', 1, 5, "rwm"), new(true, 'c', 1, 9, "rwm"), new(true, 'c', 136, null, "rwm"), new(true, 'c', 5, 2, "rwm"),
        new(true, 'c', 10, 200, "rwm"),
    ];
}
