using System.Text;
using Tiny.Interop;

namespace Tiny.Runtime.Cgroups;

/// <summary>The file operations cgroup managers make; tests record them against a fake tree.</summary>
public interface ICgroupFileSystem
{
    /// <summary>Creates a directory; false when it already exists.</summary>
    bool MakeDirectory(string path);
    /// <summary>Writes a value the way the cgroup interface takes it (one write(2)); returns errno, 0 on success.</summary>
    int TryWrite(string path, string value);
    string? ReadOrNull(string path);
    /// <summary>Removes a cgroup directory; returns errno, 0 on success or when already gone.</summary>
    int TryRemoveDirectory(string path);
}

public sealed class KernelCgroupFileSystem : ICgroupFileSystem
{
    public static KernelCgroupFileSystem Instance { get; } = new();

    public bool MakeDirectory(string path) => FileSystem.MakeDirectory(path);

    public int TryWrite(string path, string value)
    {
        int fd;
        try
        {
            fd = FileDescriptor.Open(path, FileDescriptor.O_WRONLY);
        }
        catch (SyscallException e)
        {
            return e.Errno;
        }
        var errno = FileDescriptor.TryWriteAll(fd, Encoding.ASCII.GetBytes(value));
        FileDescriptor.Close(fd);
        return errno;
    }

    public string? ReadOrNull(string path) => File.Exists(path) ? File.ReadAllText(path) : null;

    public int TryRemoveDirectory(string path) => FileSystem.TryRemoveDirectory(path);
}
