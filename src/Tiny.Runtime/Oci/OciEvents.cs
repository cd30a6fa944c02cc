using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using Tiny.Interop;
using Tiny.Runtime.Cgroups;

namespace Tiny.Runtime.Oci;

/// <summary>One line of runc events: {"type":"stats","id":ID,"data":{...}} or {"type":"oom","id":ID}.</summary>
public sealed class OciEvent
{
    public string Type { get; set; } = "";
    public string Id { get; set; } = "";
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public ContainerStats? Data { get; set; }
}

[JsonSourceGenerationOptions(GenerationMode = JsonSourceGenerationMode.Serialization, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(OciEvent))]
public sealed partial class EventsJsonContext : JsonSerializerContext;

/// <summary>
/// runc events: a container's cgroup statistics once, or every interval while it runs, with an "oom" event each
/// time the OOM killer kills one of its processes (seen by polling the memory cgroup's oom_kill counter).
/// </summary>
public sealed partial class OciEvents(ContainerStore store, ILogger log, Action<string> writeLine)
{
    /// <summary>How often the OOM counter is read between two stats events.</summary>
    static readonly TimeSpan PollPeriod = TimeSpan.FromMilliseconds(50);

    readonly CgroupStatsReader _reader = new(KernelCgroupFileSystem.Instance);

    /// <summary>Prints one stats event.</summary>
    public void Stats(string id)
    {
        var (record, hierarchies) = OpenRunning(id);
        Write("stats", record.Id, _reader.Read(hierarchies));
    }

    /// <summary>Prints a stats event every <paramref name="interval"/> and the OOM events until the container stops.</summary>
    public void Watch(string id, TimeSpan interval)
    {
        var (record, hierarchies) = OpenRunning(id);
        var oomKills = _reader.OomKills(hierarchies) ?? 0;
        // Woken the moment the init exits, tiny reads the OOM count before a client that saw the exit can delete the
        // cgroup; the kernel counts a kill before it sends the SIGKILL, so a kill that ended the container is in it.
        int pidFd;
        try
        {
            pidFd = Tiny.Interop.Process.OpenPidFd(record.Pid);
        }
        catch (SyscallException e) when (e.Errno == Errno.ESRCH)
        {
            return;
        }
        try
        {
            // The pid may have been reused between the state's check and pidfd_open.
            if (!ContainerStore.IsAlive(record.Pid, record.PidStartTime)) return;
            Span<FileDescriptor.PollFd> exit = stackalloc FileDescriptor.PollFd[1];
            exit[0] = new() { Fd = pidFd, Events = FileDescriptor.POLLIN };
            var clock = Stopwatch.StartNew();
            var nextStats = interval;
            while (true)
            {
                var wait = Math.Clamp((nextStats - clock.Elapsed).TotalMilliseconds, 0, PollPeriod.TotalMilliseconds);
                var exited = FileDescriptor.Poll(exit, (int)Math.Ceiling(wait)) > 0;
                for (var kills = _reader.OomKills(hierarchies) ?? 0; oomKills < kills; oomKills++) Write("oom", record.Id, null);
                if (exited) return;
                if (clock.Elapsed < nextStats) continue;
                ContainerStats stats;
                try
                {
                    stats = _reader.Read(hierarchies);
                }
                catch (ContainerError) when (FileDescriptor.Poll(exit, 0) > 0)
                {
                    return;
                }
                Write("stats", record.Id, stats);
                nextStats += interval;
            }
        }
        finally
        {
            FileDescriptor.Close(pidFd);
        }
    }

    (ContainerRecord, IReadOnlyList<(string Name, string Directory)>) OpenRunning(string id)
    {
        var (held, record) = store.Open(id);
        using (held)
        {
            if (store.StatusOf(record) == ContainerStatus.Stopped) throw new ContainerError($"container not running: {id}");
            return (record, HierarchiesOf(record));
        }
    }

    /// <summary>The container's cgroup directories; on v1 also the cpuset its init is in, as tiny makes none of its own.</summary>
    IReadOnlyList<(string Name, string Directory)> HierarchiesOf(ContainerRecord record)
    {
        var hierarchies = ContainerCgroup.Existing(record.CgroupDirectories, log).Hierarchies;
        if (hierarchies is [("", _)] || hierarchies.Any(h => h.Name == "cpuset")) return hierarchies;
        try
        {
            var membership = File.ReadAllText($"/proc/{record.Pid}/cgroup");
            return [.. hierarchies, ("cpuset", $"{ContainerCgroup.MountRoot}/cpuset{CgroupV1.PathOf(membership, "cpuset")}")];
        }
        catch (Exception e) when (e is IOException or ContainerError)
        {
            return hierarchies;
        }
    }

    void Write(string type, string id, ContainerStats? data) =>
        writeLine(JsonSerializer.Serialize(new OciEvent { Type = type, Id = id, Data = data }, EventsJsonContext.Default.OciEvent));

    /// <summary>A duration as Go writes one (time.ParseDuration): a sequence of decimal numbers with units ns, us, µs,
    /// ms, s, m, h, such as 5s, 100ms, 1m30s, 1.5h.</summary>
    public static TimeSpan ParseDuration(string text, string option)
    {
        var match = DurationSyntax().Match(text);
        if (!match.Success) throw new ContainerError($"invalid value \"{text}\" for {option}: expected a duration such as 5s, 100ms or 1m");
        double ticks = 0;
        foreach (Capture part in match.Groups["part"].Captures)
        {
            var unit = part.Value.TrimStart("0123456789.".ToCharArray());
            var number = double.Parse(part.Value[..^unit.Length], CultureInfo.InvariantCulture);
            ticks += number * unit switch
            {
                "ns" => 0.01,
                "us" or "µs" or "μs" => TimeSpan.TicksPerMicrosecond,
                "ms" => TimeSpan.TicksPerMillisecond,
                "s" => TimeSpan.TicksPerSecond,
                "m" => TimeSpan.TicksPerMinute,
                _ => TimeSpan.TicksPerHour,
            };
        }
        var duration = TimeSpan.FromTicks((long)ticks);
        if (duration <= TimeSpan.Zero) throw new ContainerError("duration interval must be greater than 0");
        return duration;
    }

    [GeneratedRegex(@"^(?<part>(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h))+$")]
    private static partial Regex DurationSyntax();
}
