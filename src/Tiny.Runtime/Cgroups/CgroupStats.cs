using System.Globalization;
using System.Text.Json.Serialization;

namespace Tiny.Runtime.Cgroups;

// runc's stats JSON (runc events, types/events.go): the same names, and the same fields left out when zero.

public sealed class ContainerStats
{
    public CpuStats Cpu { get; set; } = new();
    public CpusetStats Cpuset { get; set; } = new();
    public MemoryStats Memory { get; set; } = new();
    public PidsStats Pids { get; set; } = new();
    public BlkioStats Blkio { get; set; } = new();
    public Dictionary<string, HugetlbStats> Hugetlb { get; set; } = [];
    /// <summary>Intel RDT (resctrl) groups: tiny makes none, so this stays empty, as runc's does without one.</summary>
    [JsonPropertyName("intel_rdt")]
    public IntelRdtStats IntelRdt { get; set; } = new();
    /// <summary>runc fills this only for interfaces it configured itself; tiny configures none through OCI.</summary>
    [JsonPropertyName("network_interfaces")]
    [JsonIgnore(Condition = JsonIgnoreCondition.Never)]
    public object[]? NetworkInterfaces { get; set; }
}

public sealed class CpuStats
{
    public CpuUsage Usage { get; set; } = new();
    public Throttling Throttling { get; set; } = new();
}

public sealed class CpuUsage
{
    /// <summary>Nanoseconds, as all of these.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public ulong Total { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public ulong[]? Percpu { get; set; }
    [JsonPropertyName("percpu_kernel")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public ulong[]? PercpuKernel { get; set; }
    [JsonPropertyName("percpu_user")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public ulong[]? PercpuUser { get; set; }
    public ulong Kernel { get; set; }
    public ulong User { get; set; }
}

public sealed class Throttling
{
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public ulong Periods { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public ulong ThrottledPeriods { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public ulong ThrottledTime { get; set; }
}

public sealed class CpusetStats
{
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public ushort[]? Cpus { get; set; }
    [JsonPropertyName("cpu_exclusive")] public ulong CpuExclusive { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public ushort[]? Mems { get; set; }
    [JsonPropertyName("mem_hardwall")] public ulong MemHardwall { get; set; }
    [JsonPropertyName("mem_exclusive")] public ulong MemExclusive { get; set; }
    [JsonPropertyName("memory_migrate")] public ulong MemoryMigrate { get; set; }
    [JsonPropertyName("memory_spread_page")] public ulong MemorySpreadPage { get; set; }
    [JsonPropertyName("memory_spread_slab")] public ulong MemorySpreadSlab { get; set; }
    [JsonPropertyName("memory_pressure")] public ulong MemoryPressure { get; set; }
    [JsonPropertyName("sched_load_balance")] public ulong SchedLoadBalance { get; set; }
    [JsonPropertyName("sched_relax_domain_level")] public long SchedRelaxDomainLevel { get; set; }
}

public sealed class MemoryStats
{
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public ulong Cache { get; set; }
    public MemoryEntry Usage { get; set; } = new();
    public MemoryEntry Swap { get; set; } = new();
    public MemoryEntry Kernel { get; set; } = new();
    public MemoryEntry KernelTCP { get; set; } = new();
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public SortedDictionary<string, ulong>? Raw { get; set; }
}

public sealed class MemoryEntry
{
    public ulong Limit { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public ulong Usage { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public ulong Max { get; set; }
    public ulong Failcnt { get; set; }
}

public sealed class PidsStats
{
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public ulong Current { get; set; }
    /// <summary>0 (left out) when there is no limit ("max").</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public ulong Limit { get; set; }
}

public sealed class BlkioStats
{
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public BlkioEntry[]? IoServiceBytesRecursive { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public BlkioEntry[]? IoServicedRecursive { get; set; }
}

public sealed class BlkioEntry
{
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public ulong Major { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public ulong Minor { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Op { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public ulong Value { get; set; }
}

public sealed class HugetlbStats
{
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public ulong Usage { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public ulong Max { get; set; }
    public ulong Failcnt { get; set; }
}

public sealed class IntelRdtStats;

/// <summary>
/// A container's resource usage read from its cgroup files, as runc reads them: cgroup v2 from its one directory,
/// v1 from each controller's directory (a controller the container has no directory in reports nothing).
/// </summary>
public sealed class CgroupStatsReader(ICgroupFileSystem fs)
{
    /// <summary>USER_HZ, the unit of cpuacct.stat (always 100 on Linux, whatever the kernel's HZ).</summary>
    const ulong NanosecondsPerTick = 10_000_000;

    /// <param name="hierarchies">The container's directories by hierarchy (<see cref="ContainerCgroup.Hierarchies"/>):
    /// a v1 controller's name, "" for the v2 tree.</param>
    public ContainerStats Read(IReadOnlyList<(string Name, string Directory)> hierarchies)
    {
        if (hierarchies is [("", var dir)]) return ReadV2(dir);
        var dirs = hierarchies.ToDictionary(h => h.Name, h => h.Directory);
        return ReadV1(dirs);
    }

    /// <summary>How many processes the OOM killer has killed in the container's memory cgroup so far (memory.events on
    /// v2, memory.oom_control on v1, where kernels since 4.13 count them), null without a memory cgroup.</summary>
    public ulong? OomKills(IReadOnlyList<(string Name, string Directory)> hierarchies)
    {
        var file = hierarchies is [("", var dir)] ? $"{dir}/memory.events"
            : hierarchies.FirstOrDefault(h => h.Name == "memory").Directory is { } memory ? $"{memory}/memory.oom_control" : null;
        if (file is null || fs.ReadOrNull(file) is not { } text) return null;
        return KeyValues(text).GetValueOrDefault("oom_kill");
    }

    ContainerStats ReadV2(string dir)
    {
        var stats = new ContainerStats();
        var cpu = KeyValues(Read(dir, "cpu.stat"));
        stats.Cpu.Usage.Total = cpu.GetValueOrDefault("usage_usec") * 1000;
        stats.Cpu.Usage.User = cpu.GetValueOrDefault("user_usec") * 1000;
        stats.Cpu.Usage.Kernel = cpu.GetValueOrDefault("system_usec") * 1000;
        stats.Cpu.Throttling.Periods = cpu.GetValueOrDefault("nr_periods");
        stats.Cpu.Throttling.ThrottledPeriods = cpu.GetValueOrDefault("nr_throttled");
        stats.Cpu.Throttling.ThrottledTime = cpu.GetValueOrDefault("throttled_usec") * 1000;

        if (fs.ReadOrNull($"{dir}/memory.stat") is { } memoryStat)
        {
            var raw = KeyValues(memoryStat);
            stats.Memory.Raw = raw;
            stats.Memory.Cache = raw.GetValueOrDefault("file");
            stats.Memory.Usage = new MemoryEntry { Usage = Number(Read(dir, "memory.current")), Limit = Number(Read(dir, "memory.max")) };
            // v2 counts swap apart from memory; runc adds them up as v1's memsw does.
            if (fs.ReadOrNull($"{dir}/memory.swap.current") is { } swapCurrent)
            {
                var limit = Number(Read(dir, "memory.swap.max"));
                stats.Memory.Swap = new MemoryEntry
                {
                    Usage = Number(swapCurrent) + stats.Memory.Usage.Usage,
                    Limit = limit == ulong.MaxValue ? limit : limit + stats.Memory.Usage.Limit,
                };
            }
        }

        ReadPids(stats, dir);
        if (fs.ReadOrNull($"{dir}/io.stat") is { } io)
        {
            List<BlkioEntry> bytes = [], ios = [];
            foreach (var line in Lines(io))
            {
                var fields = line.Split(' ');
                var device = fields[0].Split(':');
                var values = KeyValues(string.Join('\n', fields[1..].Select(f => f.Replace('=', ' '))));
                BlkioEntry Entry(string op, string key) => new()
                {
                    Major = ulong.Parse(device[0], CultureInfo.InvariantCulture),
                    Minor = ulong.Parse(device[1], CultureInfo.InvariantCulture),
                    Op = op,
                    Value = values.GetValueOrDefault(key),
                };
                bytes.AddRange([Entry("Read", "rbytes"), Entry("Write", "wbytes")]);
                ios.AddRange([Entry("Read", "rios"), Entry("Write", "wios")]);
            }
            if (bytes.Count > 0) (stats.Blkio.IoServiceBytesRecursive, stats.Blkio.IoServicedRecursive) = (bytes.ToArray(), ios.ToArray());
        }
        return stats;
    }

    ContainerStats ReadV1(Dictionary<string, string> dirs)
    {
        var stats = new ContainerStats();
        // cpu and cpuacct are often one hierarchy, mounted as "cpu,cpuacct" with both names linked to it.
        if ((dirs.GetValueOrDefault("cpuacct") ?? dirs.GetValueOrDefault("cpu")) is { } cpuacct
            && fs.ReadOrNull($"{cpuacct}/cpuacct.usage") is { } usage)
        {
            stats.Cpu.Usage.Total = Number(usage);
            stats.Cpu.Usage.Percpu = Numbers(Read(cpuacct, "cpuacct.usage_percpu"));
            var ticks = KeyValues(Read(cpuacct, "cpuacct.stat"));
            stats.Cpu.Usage.User = ticks.GetValueOrDefault("user") * NanosecondsPerTick;
            stats.Cpu.Usage.Kernel = ticks.GetValueOrDefault("system") * NanosecondsPerTick;
            // "cpu user system" then one line per cpu.
            if (fs.ReadOrNull($"{cpuacct}/cpuacct.usage_all") is { } all)
            {
                var rows = Lines(all).Skip(1).Select(Numbers).ToArray();
                stats.Cpu.Usage.PercpuUser = rows.Select(r => r[1]).ToArray();
                stats.Cpu.Usage.PercpuKernel = rows.Select(r => r[2]).ToArray();
            }
        }
        if (dirs.GetValueOrDefault("cpu") is { } cpu && fs.ReadOrNull($"{cpu}/cpu.stat") is { } cpuStat)
        {
            var values = KeyValues(cpuStat);
            stats.Cpu.Throttling.Periods = values.GetValueOrDefault("nr_periods");
            stats.Cpu.Throttling.ThrottledPeriods = values.GetValueOrDefault("nr_throttled");
            stats.Cpu.Throttling.ThrottledTime = values.GetValueOrDefault("throttled_time");
        }
        if (dirs.GetValueOrDefault("cpuset") is { } cpuset && fs.ReadOrNull($"{cpuset}/cpuset.cpus") is { } cpus)
        {
            ulong Flag(string file) => Number(Read(cpuset, "cpuset." + file));
            stats.Cpuset = new CpusetStats
            {
                Cpus = CpuList(cpus),
                Mems = CpuList(Read(cpuset, "cpuset.mems")),
                CpuExclusive = Flag("cpu_exclusive"),
                MemHardwall = Flag("mem_hardwall"),
                MemExclusive = Flag("mem_exclusive"),
                MemoryMigrate = Flag("memory_migrate"),
                MemorySpreadPage = Flag("memory_spread_page"),
                MemorySpreadSlab = Flag("memory_spread_slab"),
                MemoryPressure = Flag("memory_pressure"),
                SchedLoadBalance = Flag("sched_load_balance"),
                SchedRelaxDomainLevel = long.Parse(Read(cpuset, "cpuset.sched_relax_domain_level").Trim(), CultureInfo.InvariantCulture),
            };
        }
        if (dirs.GetValueOrDefault("memory") is { } memory && fs.ReadOrNull($"{memory}/memory.stat") is { } memoryStat)
        {
            var raw = KeyValues(memoryStat);
            stats.Memory.Raw = raw;
            stats.Memory.Cache = raw.GetValueOrDefault("cache");
            stats.Memory.Usage = MemoryEntryV1(memory, "memory");
            stats.Memory.Swap = MemoryEntryV1(memory, "memory.memsw");
            stats.Memory.Kernel = MemoryEntryV1(memory, "memory.kmem");
            stats.Memory.KernelTCP = MemoryEntryV1(memory, "memory.kmem.tcp");
        }
        if (dirs.GetValueOrDefault("pids") is { } pids) ReadPids(stats, pids);
        return stats;
    }

    /// <summary>One v1 counter family (memory, memory.memsw, ...): all zero where the kernel has none (no swap accounting).</summary>
    MemoryEntry MemoryEntryV1(string dir, string prefix) =>
        fs.ReadOrNull($"{dir}/{prefix}.usage_in_bytes") is { } usage
            ? new MemoryEntry
            {
                Usage = Number(usage),
                Max = Number(Read(dir, $"{prefix}.max_usage_in_bytes")),
                Failcnt = Number(Read(dir, $"{prefix}.failcnt")),
                Limit = Number(Read(dir, $"{prefix}.limit_in_bytes")),
            }
            : new MemoryEntry();

    void ReadPids(ContainerStats stats, string dir)
    {
        if (fs.ReadOrNull($"{dir}/pids.current") is not { } current) return;
        stats.Pids.Current = Number(current);
        var max = Read(dir, "pids.max").Trim();
        stats.Pids.Limit = max == "max" ? 0 : Number(max);
    }

    string Read(string dir, string file) =>
        fs.ReadOrNull($"{dir}/{file}") ?? throw new ContainerError($"cgroup: {dir}/{file} is missing");

    static IEnumerable<string> Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    /// <summary>A flat-keyed file's "KEY VALUE" lines (cpu.stat, memory.stat, memory.events, ...).</summary>
    static SortedDictionary<string, ulong> KeyValues(string text)
    {
        SortedDictionary<string, ulong> values = new(StringComparer.Ordinal);
        foreach (var line in Lines(text))
        {
            var parts = line.Split(' ', 2, StringSplitOptions.TrimEntries);
            if (parts.Length == 2 && ulong.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var value)) values[parts[0]] = value;
        }
        return values;
    }

    /// <summary>A single value; "max" (no limit on v2) is the largest.</summary>
    static ulong Number(string text)
    {
        var trimmed = text.Trim();
        if (trimmed == "max") return ulong.MaxValue;
        return ulong.TryParse(trimmed, NumberStyles.None, CultureInfo.InvariantCulture, out var value)
            ? value
            : throw new ContainerError($"cgroup: not a number: \"{trimmed}\"");
    }

    static ulong[] Numbers(string text) =>
        text.Split([' ', '\n'], StringSplitOptions.RemoveEmptyEntries).Select(Number).ToArray();

    /// <summary>A cpuset list such as "0-3,8,10-11" (cpuset(7)).</summary>
    static ushort[] CpuList(string text)
    {
        List<ushort> ids = [];
        foreach (var range in text.Trim().Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            var bounds = range.Split('-');
            var first = ushort.Parse(bounds[0], CultureInfo.InvariantCulture);
            var last = bounds.Length == 2 ? ushort.Parse(bounds[1], CultureInfo.InvariantCulture) : first;
            for (int id = first; id <= last; id++) ids.Add((ushort)id);
        }
        return ids.ToArray();
    }
}
