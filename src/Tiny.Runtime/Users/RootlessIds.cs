using Tiny.Runtime.Spec;

namespace Tiny.Runtime.Users;

/// <summary>Where a rootless container's IDs come from: the subordinate ID files, the setuid helpers that may write
/// maps from them (Debian's uidmap package), and the passwd file that names the caller. Tests use files of their own.</summary>
public sealed record RootlessSettings(string SubuidFile = "/etc/subuid", string SubgidFile = "/etc/subgid",
    string NewUidMap = "/usr/bin/newuidmap", string NewGidMap = "/usr/bin/newgidmap", string PasswdRoot = "/")
{
    public static RootlessSettings Default { get; } = new();
}

/// <summary>
/// The user namespace of a container run without root: the caller's uid and gid are the container's 0; with
/// ranges of its own in /etc/subuid and /etc/subgid and newuidmap/newgidmap installed, those ranges follow from
/// container ID 1 on (as podman and rootlesskit map them). Without them, the single line an unprivileged
/// process may write itself (user_namespaces(7)).
/// </summary>
public static class RootlessIds
{
    public static UserNamespace MapsFor(uint uid, uint gid, RootlessSettings settings)
    {
        var name = UserLookup.NameOf(uid, settings.PasswdRoot);
        var subuids = OwnRanges(settings.SubuidFile, name, uid);
        var subgids = OwnRanges(settings.SubgidFile, name, uid);
        var helpers = File.Exists(settings.NewUidMap) && File.Exists(settings.NewGidMap);
        if (!helpers || subuids.Count == 0 || subgids.Count == 0) return new UserNamespace([new(0, uid, 1)], [new(0, gid, 1)]);
        return new UserNamespace(Following(new IdMapping(0, uid, 1), subuids), Following(new IdMapping(0, gid, 1), subgids));
    }

    /// <summary>Whether a map must go through newuidmap/newgidmap: an unprivileged process may write only the
    /// one line that maps its own ID (user_namespaces(7), "Defining user and group ID mappings").</summary>
    public static bool NeedsHelper(IReadOnlyList<IdMapping> map, bool asRoot) => !asRoot && map.Count > 1;

    /// <summary>Whether /proc/PID/setgroups must be "deny": for the gid map an unprivileged parent writes itself
    /// (user_namespaces(7)); setgroups(2) then fails in the container.</summary>
    public static bool DeniesSetgroups(UserNamespace maps, bool asRoot) => !asRoot && !NeedsHelper(maps.GidMap, asRoot);

    /// <summary>The caller's ranges, as newuidmap checks them: lines naming its user name or its uid.</summary>
    static List<(ulong Start, ulong Count)> OwnRanges(string path, string? name, uint uid) =>
        IdRangeLease.SubordinateRanges(path)
            .Where(r => (r.Owner == name || r.Owner == uid.ToString(System.Globalization.CultureInfo.InvariantCulture))
                && r.Count > 0 && r.Start + r.Count <= uint.MaxValue)
            .Select(r => (r.Start, r.Count))
            .Take(UserNamespace.MaxLines - 1)
            .ToList();

    /// <summary><paramref name="first"/>, then each range at the next free container ID.</summary>
    static IReadOnlyList<IdMapping> Following(IdMapping first, List<(ulong Start, ulong Count)> ranges)
    {
        List<IdMapping> map = [first];
        var next = (ulong)first.ContainerId + first.Count;
        foreach (var (start, count) in ranges)
        {
            if (next + count > uint.MaxValue) break;
            map.Add(new IdMapping((uint)next, (uint)start, (uint)count));
            next += count;
        }
        return map;
    }
}
