using System.Globalization;
using Tiny.Interop;
using Tiny.Runtime.Network;
using Tiny.Runtime.Spec;

namespace Tiny.Runtime.Users;

/// <summary>Where `--userns auto` leases live, and the subordinate ID files whose ranges it leaves alone.
/// Tests use files of their own.</summary>
public sealed record IdLeaseSettings(string StateDirectory = "/run/tiny/userns", string SubuidFile = "/etc/subuid", string SubgidFile = "/etc/subgid")
{
    public static IdLeaseSettings Default { get; } = new();
    internal string LockFile => Path.Combine(StateDirectory, "lock");
    internal string LeaseFile => Path.Combine(StateDirectory, "leases");
}

/// <summary>
/// A range of 65536 host IDs (used as uids and gids alike) that one running container holds for `--userns auto`.
/// Ranges are slots from 2^31 up, far above the IDs distributions hand out, skipping any slot that overlaps an
/// /etc/subuid or /etc/subgid range. The lease file is changed under a file lock; a lease whose owner (tiny's
/// pid and start time) is gone is reclaimed, so a killed tiny never keeps a range.
/// </summary>
public sealed class IdRangeLease : IDisposable
{
    public const uint PoolStart = 1u << 31;
    /// <summary>Slots in the pool: one more would end at 4294967295, which is no ID.</summary>
    public const int SlotCount = (int)((uint.MaxValue - PoolStart) / UserNamespace.AutoSize);

    /// <summary>A lease and who keeps it: tiny, and once cloned the container's init, whose end ends every process
    /// of the container (pid_namespaces(7)). Either one running keeps the lease, so a container that outlives a
    /// killed tiny keeps its range.</summary>
    sealed record Entry(uint HostStart, string ContainerId, LeaseOwner Owner, LeaseOwner? Init = null)
    {
        public bool IsHeld => Owner.IsRunning || Init is { IsRunning: true };
    }

    readonly IdLeaseSettings settings;
    readonly string containerId;
    bool released;

    /// <summary>The first host ID of the range; the container's IDs 0-65535 map onto it and the 65535 after.</summary>
    public uint HostStart { get; }

    IdRangeLease(IdLeaseSettings settings, string containerId, uint hostStart)
    {
        this.settings = settings;
        this.containerId = containerId;
        HostStart = hostStart;
    }

    public static IdRangeLease Acquire(string containerId) => Acquire(containerId, IdLeaseSettings.Default, LeaseOwner.Current);

    internal static IdRangeLease Acquire(string containerId, IdLeaseSettings settings, LeaseOwner owner)
    {
        var reserved = SubordinateRanges(settings.SubuidFile).Concat(SubordinateRanges(settings.SubgidFile)).ToArray();
        return Locked(settings, leases =>
        {
            if (leases.Any(l => l.ContainerId == containerId))
                throw new ContainerError($"container {containerId} already holds a user namespace range");
            for (var slot = 0; slot < SlotCount; slot++)
            {
                var start = PoolStart + (uint)slot * UserNamespace.AutoSize;
                if (leases.Any(l => l.HostStart == start) || reserved.Any(r => Overlaps(r, start))) continue;
                leases.Add(new Entry(start, containerId, owner));
                return new IdRangeLease(settings, containerId, start);
            }
            throw new ContainerError($"--userns auto: all {SlotCount} ranges of {UserNamespace.AutoSize} host IDs are in use");
        });
    }

    /// <summary>Records the container's init as a keeper of the lease.</summary>
    public void KeptBy(LeaseOwner init) =>
        Locked(settings, leases =>
        {
            var index = leases.FindIndex(l => l.HostStart == HostStart && l.ContainerId == containerId);
            if (index >= 0) leases[index] = leases[index] with { Init = init };
            return index;
        });

    /// <summary>Gives the range back.</summary>
    public void Dispose()
    {
        if (released) return;
        released = true;
        Locked(settings, leases => leases.RemoveAll(l => l.HostStart == HostStart && l.ContainerId == containerId));
    }

    /// <summary>The leases of running owners as <paramref name="change"/> leaves them, read and written back under
    /// the lock.</summary>
    static T Locked<T>(IdLeaseSettings settings, Func<List<Entry>, T> change)
    {
        Directory.CreateDirectory(settings.StateDirectory);
        var lockFd = FileLock.Acquire(settings.LockFile);
        try
        {
            var leases = Read(settings.LeaseFile).Where(l => l.IsHeld).ToList();
            var result = change(leases);
            Write(settings.LeaseFile, leases);
            return result;
        }
        finally
        {
            FileLock.Release(lockFd);
        }
    }

    static bool Overlaps((string Owner, ulong Start, ulong Count) range, uint start) =>
        range.Start < (ulong)start + UserNamespace.AutoSize && start < range.Start + range.Count;

    /// <summary>The ranges of an /etc/subuid or /etc/subgid file: "NAME:START:COUNT" lines, NAME a user name or
    /// uid (subuid(5)).</summary>
    internal static IEnumerable<(string Owner, ulong Start, ulong Count)> SubordinateRanges(string path)
    {
        if (!File.Exists(path)) yield break;
        foreach (var line in File.ReadAllLines(path))
        {
            var fields = line.Split(':');
            if (fields.Length == 3 && ulong.TryParse(fields[1], CultureInfo.InvariantCulture, out var start)
                && ulong.TryParse(fields[2], CultureInfo.InvariantCulture, out var count))
                yield return (fields[0], start, count);
        }
    }

    /// <summary>One lease a line: "HOSTSTART ID PID:START [INITPID:START]".</summary>
    static IEnumerable<Entry> Read(string path)
    {
        if (!File.Exists(path)) yield break;
        foreach (var line in File.ReadAllLines(path))
        {
            var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length is 3 or 4 && uint.TryParse(fields[0], CultureInfo.InvariantCulture, out var start))
                yield return new Entry(start, fields[1], LeaseOwner.Parse(fields[2]), fields.Length == 4 ? LeaseOwner.Parse(fields[3]) : null);
        }
    }

    /// <summary>Replaces the file (a temporary file renamed over it), so a crash never leaves half of it.</summary>
    static void Write(string path, List<Entry> leases)
    {
        var temporary = path + ".new";
        File.WriteAllLines(temporary, leases.Select(l => $"{l.HostStart} {l.ContainerId} {l.Owner}{(l.Init is { } init ? $" {init}" : "")}"));
        File.Move(temporary, path, overwrite: true);
    }
}
