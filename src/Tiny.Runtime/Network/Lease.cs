using System.Globalization;
using System.Net;

namespace Tiny.Runtime.Network;

/// <summary>The process that holds a lease: its pid and start time (field 22 of /proc/PID/stat), so a
/// reused pid does not keep a dead owner's lease alive.</summary>
public readonly record struct LeaseOwner(int Pid, ulong StartTime)
{
    public static LeaseOwner Current { get; } = Of(Environment.ProcessId) ?? throw new InvalidOperationException("no /proc/self/stat");

    /// <summary>The owner identity of a live process, or null when it does not exist.</summary>
    public static LeaseOwner? Of(int pid) => Stat(pid) is { } stat ? new(pid, stat.StartTime) : null;

    /// <summary>Alive and not a zombie: a zombie has already left its namespaces (do_exit()).</summary>
    public bool IsRunning => Stat(Pid) is { } now && now.StartTime == StartTime && now.State != 'Z';

    static (char State, ulong StartTime)? Stat(int pid)
    {
        string stat;
        try { stat = File.ReadAllText($"/proc/{pid}/stat"); }
        catch (IOException) { return null; }
        // The command name (field 2) is in parentheses and may hold spaces: count fields after the last ')'.
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return (fields[0][0], ulong.Parse(fields[19], CultureInfo.InvariantCulture));
    }

    public override string ToString() => $"{Pid}:{StartTime}";

    public static LeaseOwner Parse(string text)
    {
        var colon = text.IndexOf(':');
        return new(int.Parse(text.AsSpan(0, colon), CultureInfo.InvariantCulture), ulong.Parse(text.AsSpan(colon + 1), CultureInfo.InvariantCulture));
    }
}

/// <summary>One container's address on the bridge, with what it put on the host: its veth's host end
/// and its published ports.</summary>
public sealed record Lease(IPAddress Address, string ContainerId, LeaseOwner Owner, string HostLink, IReadOnlyList<PortMapping> Ports)
{
    /// <summary>Reads the lease file: one lease a line, "ADDRESS ID PID:START HOSTLINK PORTS|-".</summary>
    public static List<Lease> ReadAll(string path)
    {
        if (!File.Exists(path)) return [];
        var leases = new List<Lease>();
        foreach (var line in File.ReadAllLines(path))
        {
            var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length != 5) continue;
            var ports = fields[4] == "-" ? [] : fields[4].Split(',').Select(PortMapping.Parse).ToList();
            leases.Add(new(IPAddress.Parse(fields[0]), fields[1], LeaseOwner.Parse(fields[2]), fields[3], ports));
        }
        return leases;
    }

    /// <summary>Replaces the lease file (write a temporary file, rename it over) so a crash never
    /// leaves half a file.</summary>
    public static void WriteAll(string path, IEnumerable<Lease> leases)
    {
        var temporary = path + ".new";
        File.WriteAllLines(temporary, leases.Select(l =>
            $"{l.Address} {l.ContainerId} {l.Owner} {l.HostLink} {(l.Ports.Count == 0 ? "-" : string.Join(',', l.Ports))}"));
        File.Move(temporary, path, overwrite: true);
    }
}
