using System.Diagnostics;
using Tiny.Interop;

namespace Tiny.Runtime.Cgroups;

/// <summary>
/// Pause and resume: on cgroup v2 the container's own cgroup.freeze; on v1 (and the hybrid layout) a directory in the
/// freezer hierarchy, made on first pause beside the caller's freezer cgroup (tiny does not make it for every run),
/// that the container's processes move into before freezer.state is set (cgroup-v1/freezer-subsystem.rst).
/// </summary>
public sealed class Freezer(ICgroupFileSystem fs, string mountRoot = ContainerCgroup.MountRoot)
{
    static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    /// <summary>The v1 freezer directory for a container whose cgroup directories end in <paramref name="name"/>.</summary>
    public string V1DirectoryFor(string name, string procSelfCgroup) =>
        $"{mountRoot}/freezer{CgroupV1.PathOf(procSelfCgroup, "freezer")}/{name}";

    static bool IsV2(string directory) => FileSystem.FileSystemType(directory) == FileSystem.CGROUP2_SUPER_MAGIC;

    /// <summary>The v1 freezer directory to use for these cgroups (made here; to record before <see cref="Freeze"/> so
    /// that it is removed with the container whatever happens), or null on v2.</summary>
    public string? PrepareV1(IReadOnlyList<string> cgroupDirectories, string procSelfCgroup)
    {
        if (IsV2(cgroupDirectories[0])) return null;
        var freezer = V1DirectoryFor(Path.GetFileName(cgroupDirectories[0]), procSelfCgroup);
        fs.MakeDirectory(freezer);
        return freezer;
    }

    /// <summary>Freezes the processes: moved into <paramref name="v1Freezer"/> first on v1.</summary>
    public void Freeze(IReadOnlyList<string> cgroupDirectories, string? v1Freezer, IEnumerable<int> processes)
    {
        if (v1Freezer is null)
        {
            Write(cgroupDirectories[0], "cgroup.freeze", "1");
            WaitFor(cgroupDirectories[0], "cgroup.events", "frozen 1");
            return;
        }
        foreach (var pid in processes)
        {
            // A process may exit between the listing and the move.
            var errno = fs.TryWrite($"{v1Freezer}/cgroup.procs", pid.ToString());
            if (errno is not (0 or Errno.ESRCH)) throw new ContainerError($"cgroup: move {pid} to {v1Freezer}: {Errno.Describe(errno)}");
        }
        Write(v1Freezer, "freezer.state", "FROZEN");
        WaitFor(v1Freezer, "freezer.state", "FROZEN");
    }

    public void Thaw(IReadOnlyList<string> cgroupDirectories, string? v1Freezer)
    {
        if (v1Freezer is not null) Write(v1Freezer, "freezer.state", "THAWED");
        else if (IsV2(cgroupDirectories[0])) Write(cgroupDirectories[0], "cgroup.freeze", "0");
    }

    public bool IsFrozen(IReadOnlyList<string> cgroupDirectories, string? v1Freezer)
    {
        if (v1Freezer is not null) return fs.ReadOrNull($"{v1Freezer}/freezer.state")?.Trim() == "FROZEN";
        return cgroupDirectories.Count > 0 && fs.ReadOrNull($"{cgroupDirectories[0]}/cgroup.freeze")?.Trim() == "1";
    }

    void Write(string directory, string file, string value)
    {
        var errno = fs.TryWrite($"{directory}/{file}", value);
        if (errno != 0) throw new ContainerError($"cgroup: write {value} to {directory}/{file}: {Errno.Describe(errno)}");
    }

    /// <summary>Freezing takes effect once every task has stopped (v1 shows FREEZING meanwhile).</summary>
    void WaitFor(string directory, string file, string line)
    {
        var deadline = Stopwatch.StartNew();
        while (!(fs.ReadOrNull($"{directory}/{file}") ?? "").Split('\n').Contains(line))
        {
            if (deadline.Elapsed > Patience) throw new ContainerError($"cgroup: {directory}/{file} did not reach \"{line}\"");
            Thread.Sleep(1);
        }
    }
}
