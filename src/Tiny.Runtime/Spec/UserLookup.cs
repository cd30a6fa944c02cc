namespace Tiny.Runtime.Spec;

/// <summary>--user as Docker takes it: UID, UID:GID, NAME or NAME:GROUP, names read from the rootfs's /etc/passwd and /etc/group.</summary>
public static class UserLookup
{
    /// <returns>The uid, gid and home directory the container's process gets.</returns>
    public static (uint Uid, uint Gid, string Home) Resolve(string? user, string rootfs)
    {
        if (string.IsNullOrEmpty(user)) return (0, 0, "/root");
        var parts = user.Split(':', 2);
        var passwd = ReadDatabase(rootfs, "etc/passwd");
        string[]? entry;
        uint uid;
        if (uint.TryParse(parts[0], out uid))
            entry = passwd.FirstOrDefault(f => f.Length > 5 && f[2] == parts[0]);
        else
        {
            entry = passwd.FirstOrDefault(f => f.Length > 5 && f[0] == parts[0])
                ?? throw new ContainerError($"invalid --user \"{user}\": no user \"{parts[0]}\" in the rootfs's /etc/passwd");
            uid = uint.Parse(entry[2]);
        }
        // As runc and Docker: a uid with no passwd entry gets gid 0.
        var gid = entry is not null && uint.TryParse(entry[3], out var primary) ? primary : 0;
        if (parts.Length == 2)
        {
            if (!uint.TryParse(parts[1], out gid))
            {
                var group = ReadDatabase(rootfs, "etc/group").FirstOrDefault(f => f.Length > 2 && f[0] == parts[1])
                    ?? throw new ContainerError($"invalid --user \"{user}\": no group \"{parts[1]}\" in the rootfs's /etc/group");
                gid = uint.Parse(group[2]);
            }
        }
        var home = entry is not null && entry[5].Length > 0 ? entry[5] : uid == 0 ? "/root" : "/";
        return (uid, gid, home);
    }

    /// <summary>The name /etc/passwd under <paramref name="root"/> gives <paramref name="uid"/>, or null.</summary>
    public static string? NameOf(uint uid, string root) =>
        ReadDatabase(root, "etc/passwd").FirstOrDefault(f => f.Length > 2 && f[2] == uid.ToString(System.Globalization.CultureInfo.InvariantCulture))?[0];

    static IEnumerable<string[]> ReadDatabase(string rootfs, string relative)
    {
        var path = Path.Combine(rootfs, relative);
        return File.Exists(path)
            ? File.ReadLines(path).Where(l => l.Length > 0 && l[0] != '#').Select(l => l.Split(':'))
            : [];
    }
}
