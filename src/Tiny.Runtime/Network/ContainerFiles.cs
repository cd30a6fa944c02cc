using System.Net;

namespace Tiny.Runtime.Network;

/// <summary>The /etc/hosts, /etc/hostname and /etc/resolv.conf a container gets, as Docker writes them.</summary>
internal static class ContainerFiles
{
    public static string Hosts(string hostname, IPAddress address) =>
        $"""
        127.0.0.1	localhost
        ::1	localhost ip6-localhost ip6-loopback
        fe00::0	ip6-localnet
        ff00::0	ip6-mcastprefix
        ff02::1	ip6-allnodes
        ff02::2	ip6-allrouters
        {address}	{hostname}

        """;

    public static string Hostname(string hostname) => hostname + "\n";

    /// <summary>The host's resolv.conf without nameservers on loopback addresses, which are the
    /// host's own and unreachable from the container's namespace; <paramref name="nameservers"/> is how
    /// many remain.</summary>
    public static string ResolvConf(IEnumerable<string> hostLines, out int nameservers)
    {
        var kept = new List<string>();
        nameservers = 0;
        foreach (var line in hostLines)
        {
            var fields = line.Split((char[])[' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            if (fields is ["nameserver", var server, ..])
            {
                if (!IPAddress.TryParse(server.Split('%')[0], out var address) || IPAddress.IsLoopback(address)) continue;
                nameservers++;
            }
            kept.Add(line);
        }
        return string.Join('\n', kept) + "\n";
    }

    /// <summary>The host's resolver configuration; with systemd-resolved's stub (127.0.0.53) in
    /// /etc/resolv.conf, the upstream servers it lists in /run/systemd/resolve/resolv.conf instead,
    /// as Docker does.</summary>
    public static string[] HostResolvConf()
    {
        var lines = File.Exists("/etc/resolv.conf") ? File.ReadAllLines("/etc/resolv.conf") : [];
        const string upstream = "/run/systemd/resolve/resolv.conf";
        return lines.Any(l => l.Trim().StartsWith("nameserver 127.0.0.53", StringComparison.Ordinal)) && File.Exists(upstream)
            ? File.ReadAllLines(upstream)
            : lines;
    }
}
