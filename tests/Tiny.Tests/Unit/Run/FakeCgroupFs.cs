using Tiny.Runtime.Cgroups;

namespace Tiny.Tests.Unit.Run;

/// <summary>A recording fake of cgroupfs: files in a dictionary, every operation listed.</summary>
internal sealed class FakeCgroupFs : ICgroupFileSystem
{
    public readonly List<string> Operations = [];
    public readonly Dictionary<string, string> Files = [];
    public readonly Dictionary<string, int> Refusals = [];

    public bool MakeDirectory(string path)
    {
        Operations.Add($"mkdir {path}");
        return true;
    }

    public int TryWrite(string path, string value)
    {
        Operations.Add($"write {path} {value}");
        if (Refusals.TryGetValue(path, out var errno)) return errno;
        Files[path] = value;
        return 0;
    }

    public string? ReadOrNull(string path) => Files.GetValueOrDefault(path);

    public int TryRemoveDirectory(string path)
    {
        Operations.Add($"rmdir {path}");
        return 0;
    }
}
