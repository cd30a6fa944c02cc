using static Tiny.Interop.Mount;

namespace Tiny.Runtime.Mounts;

/// <summary>
/// One mount into the container, made inside the rootfs before pivot_root.
/// </summary>
/// <param name="Destination">Absolute path inside the container.</param>
/// <param name="Source">Host path for a bind mount; the device or name otherwise ("tmpfs").</param>
/// <param name="Type">"bind" for a bind mount (MS_BIND, with MS_REC for rbind, in <paramref name="Flags"/>); otherwise the file system type: "tmpfs", "proc", ...</param>
/// <param name="Flags">MS_* mount flags, MS_RDONLY included; a bind mount with more than MS_BIND|MS_REC is remounted to apply them.</param>
/// <param name="PropagationFlags">MS_PRIVATE, MS_SHARED, MS_SLAVE or MS_UNBINDABLE (optionally | MS_REC), applied after the mount; 0 for none.</param>
/// <param name="Data">File system options, e.g. "size=65536k,mode=755".</param>
public sealed record MountRequest(string Destination, string? Source, string Type, ulong Flags, ulong PropagationFlags, string? Data)
{
    public bool IsBind => Type == "bind" || (Flags & MS_BIND) != 0;

    /// <summary>A tmpfs that starts as a copy of what the rootfs has at <see cref="Destination"/> (tmpcopyup, runc's and
    /// crun's extension): the parent makes and fills it (<see cref="TmpfsCopies"/>), the child attaches it.</summary>
    public bool CopyUp { get; init; }

    /// <summary>The flags for mount(2) itself: binds always carry MS_BIND.</summary>
    public ulong MountFlags => IsBind ? Flags | MS_BIND : Flags;

    /// <summary>The flags a bind mount needs a second MS_BIND|MS_REMOUNT pass for (mount(2): MS_BIND ignores the others), 0 when none.</summary>
    public ulong RemountFlags => IsBind ? Flags & ~(MS_BIND | MS_REC | MS_REMOUNT) : 0;

    /// <summary>This request with its destination cleaned; a <see cref="ContainerError"/> when it is relative or the root.</summary>
    public MountRequest Checked()
    {
        var destination = ContainerPath.Clean(Destination)
            ?? throw new ContainerError($"mount destination \"{Destination}\": must be an absolute path");
        return destination != "/"
            ? this with { Destination = destination }
            : throw new ContainerError($"mount destination \"{Destination}\": cannot mount over the container's root");
    }
}

/// <summary>Paths inside the container, cleaned lexically as Go's filepath.Clean does for an absolute path.</summary>
public static class ContainerPath
{
    /// <summary>"/a//./b/../c/" becomes "/a/c"; ".." stops at the root. Null when the path is not absolute.</summary>
    public static string? Clean(string path)
    {
        if (!path.StartsWith('/')) return null;
        List<string> parts = [];
        foreach (var part in path.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            if (part == ".") continue;
            if (part == "..") { if (parts.Count > 0) parts.RemoveAt(parts.Count - 1); continue; }
            parts.Add(part);
        }
        return "/" + string.Join('/', parts);
    }

    /// <summary>
    /// The cleaned path with the rootfs's symlinks in it followed as if <paramref name="root"/> were / (absolute
    /// targets start again at the root, ".." stops there), so that the child can create what is missing
    /// behind a dangling link; the child still resolves the result with RESOLVE_IN_ROOT.
    /// </summary>
    public static string FollowSymlinks(string root, string cleanPath)
    {
        var hostRoot = root.TrimEnd('/');
        List<string> resolved = [];
        var remaining = Reversed(cleanPath);
        for (var links = 0; remaining.Count > 0;)
        {
            var part = remaining[^1];
            remaining.RemoveAt(remaining.Count - 1);
            if (part == ".") continue;
            if (part == "..")
            {
                if (resolved.Count > 0) resolved.RemoveAt(resolved.Count - 1);
                continue;
            }
            var target = new FileInfo($"{hostRoot}/{string.Join('/', resolved)}/{part}").LinkTarget;
            if (target is null)
            {
                resolved.Add(part);
                continue;
            }
            // path_resolution(7): at most 40 symbolic links in one path.
            if (++links > 40) throw new ContainerError($"mount destination {cleanPath}: too many levels of symbolic links");
            if (target.StartsWith('/')) resolved.Clear();
            remaining.AddRange(Reversed(target));
        }
        return "/" + string.Join('/', resolved);
    }

    static List<string> Reversed(string path) => path.Split('/', StringSplitOptions.RemoveEmptyEntries).Reverse().ToList();

    /// <summary>Each ancestor of a cleaned path relative to the root, then the path itself: "/a/b" gives "a", "a/b".</summary>
    public static IReadOnlyList<string> RelativePrefixes(string cleanPath)
    {
        var parts = cleanPath.Split('/', StringSplitOptions.RemoveEmptyEntries);
        return parts.Select((_, i) => string.Join('/', parts.Take(i + 1))).ToArray();
    }
}
