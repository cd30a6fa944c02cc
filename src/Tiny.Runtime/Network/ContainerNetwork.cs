using System.Net;
using Microsoft.Extensions.Logging;
using Tiny.Interop;
using Tiny.Runtime.Mounts;
using ZLogger;

namespace Tiny.Runtime.Network;

/// <summary>What `tiny run --net bridge` asks of the network: <paramref name="Subnet"/> (--subnet, first
/// use), <paramref name="Ip"/> (--ip) and <paramref name="Publish"/> (-p, as typed).</summary>
public sealed record NetworkRequest(string ContainerId, string Hostname, string? Subnet, string? Ip, IReadOnlyList<string> Publish);

/// <summary>Where the bridge network lives: the bridge, the nf_tables table and the state directory
/// (subnet, leases, lock, per-container files). Tests use names of their own.</summary>
public sealed record NetworkSettings(string Bridge = "tiny0", string Table = "tiny", string StateDirectory = "/run/tiny/net")
{
    public static NetworkSettings Default { get; } = new();
    internal string LockFile => Path.Combine(StateDirectory, "lock");
    internal string LeaseFile => Path.Combine(StateDirectory, "leases");
    internal string SubnetFile => Path.Combine(StateDirectory, "subnet");
    internal string FilesOf(string containerId) => Path.Combine(StateDirectory, "containers", containerId);
}

/// <summary>
/// One container's place on the bridge network. <see cref="Prepare"/> (before clone) validates the
/// request, leases an address, makes sure of the bridge, the NAT table and forwarding, adds the
/// container's rules and writes its /etc files; <see cref="Attach"/> (after clone) gives the
/// container's namespace its end of a veth pair; <see cref="Dispose"/> undoes what is the container's.
/// </summary>
public sealed class ContainerNetwork : IDisposable
{
    const string ContainerInterface = "eth0";
    const int LoopbackIndex = 1;

    readonly NetworkSettings settings;
    readonly ILogger log;
    readonly NetlinkSocket route;
    readonly NetlinkSocket netfilter;
    readonly NatTable nat;
    readonly int bridgeIndex, mtu;
    readonly Ipv4Subnet subnet;
    List<InstalledRule> rules = [];
    LeaseOwner? container;
    bool disposed;

    public string ContainerId { get; }
    public IPAddress Address { get; }
    public IPAddress Gateway => subnet.Gateway;
    public Ipv4Subnet Subnet => subnet;
    /// <summary>The host end of the veth pair: "tiny" and the start of the container id.</summary>
    public string HostLink { get; }
    public IReadOnlyList<PortMapping> Ports { get; }
    /// <summary>The generated /etc/hosts, /etc/hostname and /etc/resolv.conf, bound over the container's.</summary>
    public IReadOnlyList<MountRequest> FileMounts { get; }

    ContainerNetwork(NetworkSettings settings, ILogger log, NetlinkSocket route, NetlinkSocket netfilter, string containerId,
        Ipv4Subnet subnet, IPAddress address, int bridgeIndex, int mtu, IReadOnlyList<PortMapping> ports)
    {
        this.settings = settings;
        this.log = log;
        this.route = route;
        this.netfilter = netfilter;
        this.subnet = subnet;
        this.bridgeIndex = bridgeIndex;
        this.mtu = mtu;
        nat = new NatTable(settings.Table, settings.Bridge);
        ContainerId = containerId;
        Address = address;
        HostLink = HostLinkOf(containerId);
        Ports = ports;
        var files = settings.FilesOf(containerId);
        FileMounts = new[] { "hosts", "hostname", "resolv.conf" }
            .Select(name => new MountRequest("/etc/" + name, Path.Combine(files, name), "bind", Mount.MS_BIND, 0, null)).ToArray();
    }

    public static ContainerNetwork Prepare(NetworkRequest request, ILogger log) =>
        Prepare(request, log, NetworkSettings.Default, LeaseOwner.Current);

    internal static ContainerNetwork Prepare(NetworkRequest request, ILogger log, NetworkSettings settings, LeaseOwner owner)
    {
        var ports = ParsePorts(request.Publish);
        var requestedSubnet = request.Subnet is null ? (Ipv4Subnet?)null : Ipv4Subnet.Parse(request.Subnet, "--subnet");
        IPAddress? requestedIp = null;
        if (request.Ip is not null && !Ipv4Subnet.TryParseAddress(request.Ip, out requestedIp))
            throw new ContainerError($"invalid --ip {request.Ip}: not an IPv4 address");
        var hostLink = HostLinkOf(request.ContainerId);

        Directory.CreateDirectory(settings.StateDirectory);
        var route = NetlinkSocket.OpenRoute();
        var netfilter = NetlinkSocket.OpenNetfilter();
        ContainerNetwork? network = null;
        var lockFd = FileLock.Acquire(settings.LockFile);
        try
        {
            var nat = new NatTable(settings.Table, settings.Bridge);
            var leases = Lease.ReadAll(settings.LeaseFile);
            ReclaimDead(leases, route, netfilter, nat, settings, log);
            if (leases.FirstOrDefault(l => l.ContainerId == request.ContainerId) is { } same)
                throw new ContainerError($"container {request.ContainerId} already has address {same.Address}");

            var bridge = HostLinks.Find(route, settings.Bridge);
            var recorded = File.Exists(settings.SubnetFile) ? Ipv4Subnet.Parse(File.ReadAllText(settings.SubnetFile).Trim(), "recorded subnet") : (Ipv4Subnet?)null;
            if (bridge is not null && recorded is null)
            {
                // A bridge without tiny's record of its subnet (state directory removed): start afresh.
                HostLinks.Delete(route, settings.Bridge);
                bridge = null;
            }
            var subnet = bridge is not null ? recorded!.Value : ChooseSubnet(route, requestedSubnet ?? (leases.Count > 0 ? recorded : null), requestedSubnet is not null, settings);
            if (bridge is not null && requestedSubnet is { } asked && asked != subnet)
                throw new ContainerError($"invalid --subnet {asked}: bridge {settings.Bridge} already uses {subnet} (`tiny network prune` removes it when no container runs)");
            var address = ChooseAddress(subnet, requestedIp, leases, settings);
            foreach (var port in ports)
                if (leases.FirstOrDefault(l => l.Ports.Any(port.ConflictsWith)) is { } holder)
                    throw new ContainerError($"publish {port}: host port {port.HostPort}/{port.Protocol.ToString().ToLowerInvariant()} is already published by container {holder.ContainerId}");

            CheckHostAddresses(route, ports);
            var bridgeIndex = bridge?.Index ?? HostLinks.CreateBridge(route, settings.Bridge, subnet);
            var mtu = bridge?.Mtu ?? 1500;
            if (bridge is null)
            {
                File.WriteAllText(settings.SubnetFile, subnet + "\n");
                log.ZLogDebug($"created bridge {settings.Bridge} with {subnet.Gateway}/{subnet.PrefixLength}");
            }
            HostLinks.EnableForwarding();
            nat.EnsureFor(netfilter, subnet);

            network = new ContainerNetwork(settings, log, route, netfilter, request.ContainerId, subnet, address, bridgeIndex, mtu, ports);
            leases.Add(new Lease(address, request.ContainerId, owner, hostLink, ports));
            Lease.WriteAll(settings.LeaseFile, leases);
            network.rules = nat.AddContainerRules(netfilter, request.ContainerId, address, ports);
        }
        catch
        {
            network?.Dispose();
            if (network is null)
            {
                route.Dispose();
                netfilter.Dispose();
            }
            throw;
        }
        finally
        {
            FileLock.Release(lockFd);
        }
        network.WriteFiles(request.Hostname);
        log.ZLogDebug($"container {request.ContainerId} leased {network.Address} on {settings.Bridge}");
        return network;
    }

    /// <summary>Gives the container's network namespace (<paramref name="namespaceFd"/>, or that of
    /// <paramref name="containerPid"/> when -1) its
    /// interface: a veth pair whose host end joins the bridge and whose peer is created directly in
    /// the container's namespace as eth0; then, over a socket opened inside that namespace, lo and
    /// eth0 up, the address and the default route, in one datagram.</summary>
    public void Attach(int containerPid, int namespaceFd = -1)
    {
        container = LeaseOwner.Of(containerPid);
        using var namespaceHandle = namespaceFd < 0 ? File.OpenHandle($"/proc/{containerPid}/ns/net") : null;
        if (namespaceHandle is not null) namespaceFd = (int)namespaceHandle.DangerousGetHandle();
        var w = new NetlinkWriter();
        RouteMessages.CreateVethPair(w, route.NextSequence(), HostLink, mtu, bridgeIndex, ContainerInterface, namespaceFd);
        route.Execute(w, 1);

        using var inside = NetlinkSocket.OpenRouteIn(namespaceFd);
        var eth0 = HostLinks.Find(inside, ContainerInterface)?.Index
            ?? throw new SyscallException("netlink", Errno.ENODEV, $"find {ContainerInterface} in the container");
        w = new NetlinkWriter();
        RouteMessages.SetLinkUp(w, inside.NextSequence(), LoopbackIndex, "lo");
        RouteMessages.SetLinkUp(w, inside.NextSequence(), eth0, ContainerInterface);
        RouteMessages.AddAddress(w, inside.NextSequence(), eth0, Address, subnet.PrefixLength, ContainerInterface);
        RouteMessages.AddDefaultRoute(w, inside.NextSequence(), Gateway);
        inside.Execute(w, 4);
        log.ZLogDebug($"attached {HostLink} to {settings.Bridge}, {Address} in pid {containerPid}'s namespace");
    }

    /// <summary>Deletes the veth pair, the container's rules and files, and releases the lease. The
    /// bridge and the table stay. Safe to call more than once and after a failed <see cref="Attach"/>.</summary>
    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        try
        {
            // Once the container has exited, its namespace's teardown deletes the pair (veth is not
            // movable, so default_device_exit_batch() in net/core/dev.c deletes it); deleting it here
            // would only wait 15-30 ms for the same RCU grace periods under rtnl_lock.
            if (container is null || container.Value.IsRunning) HostLinks.Delete(route, HostLink);
            nat.DeleteRules(netfilter, rules);
            var lockFd = FileLock.Acquire(settings.LockFile);
            try
            {
                var leases = Lease.ReadAll(settings.LeaseFile);
                if (leases.RemoveAll(l => l.ContainerId == ContainerId) > 0) Lease.WriteAll(settings.LeaseFile, leases);
            }
            finally
            {
                FileLock.Release(lockFd);
            }
            DeleteFiles(settings, ContainerId);
        }
        finally
        {
            route.Dispose();
            netfilter.Dispose();
        }
    }

    /// <summary>Removes the leases of owners that are gone, with what they left: veth, rules, files.</summary>
    internal static void ReclaimDead(List<Lease> leases, NetlinkSocket route, NetlinkSocket netfilter, NatTable nat,
        NetworkSettings settings, ILogger log)
    {
        Reclaim(leases, leases.Where(l => !l.Owner.IsRunning).ToList(), route, netfilter, nat, settings, log);
    }

    /// <summary>Removes <paramref name="reclaimed"/> from <paramref name="leases"/> with their veth pairs, rules and files.</summary>
    static void Reclaim(List<Lease> leases, List<Lease> reclaimed, NetlinkSocket route, NetlinkSocket netfilter, NatTable nat,
        NetworkSettings settings, ILogger log)
    {
        if (reclaimed.Count == 0) return;
        foreach (var lease in reclaimed)
        {
            HostLinks.Delete(route, lease.HostLink);
            DeleteFiles(settings, lease.ContainerId);
            log.ZLogDebug($"reclaimed {lease.Address} of container {lease.ContainerId} (owner pid {lease.Owner.Pid})");
        }
        nat.DeleteRules(netfilter, nat.FindRules(netfilter, reclaimed.Select(l => l.ContainerId).ToHashSet()));
        leases.RemoveAll(reclaimed.Contains);
        Lease.WriteAll(settings.LeaseFile, leases);
    }

    /// <summary>
    /// Releases what container <paramref name="containerId"/> holds on the bridge network (its lease, veth pair,
    /// rules and files) when the process that leased them can no longer do it: tiny rm -f after a lost monitor.
    /// </summary>
    public static void Release(string containerId, ILogger log, NetworkSettings? settings = null)
    {
        settings ??= NetworkSettings.Default;
        if (!File.Exists(settings.LeaseFile)) return;
        using var route = NetlinkSocket.OpenRoute();
        using var netfilter = NetlinkSocket.OpenNetfilter();
        var lockFd = FileLock.Acquire(settings.LockFile);
        try
        {
            var leases = Lease.ReadAll(settings.LeaseFile);
            Reclaim(leases, leases.Where(l => l.ContainerId == containerId).ToList(), route, netfilter,
                new NatTable(settings.Table, settings.Bridge), settings, log);
        }
        finally
        {
            FileLock.Release(lockFd);
        }
    }

    static List<PortMapping> ParsePorts(IReadOnlyList<string> publish)
    {
        var ports = publish.Select(PortMapping.Parse).ToList();
        for (var i = 0; i < ports.Count; i++)
            for (var j = 0; j < i; j++)
                if (ports[i].ConflictsWith(ports[j]))
                    throw new ContainerError($"publish {publish[i]}: host port {ports[i].HostPort} is published twice");
        return ports;
    }

    /// <summary>Refuses a -p HOSTIP that is not one of this host's addresses: nothing would ever reach it.</summary>
    static void CheckHostAddresses(NetlinkSocket route, List<PortMapping> ports)
    {
        if (ports.All(p => p.HostIp is null)) return;
        var local = HostLinks.Addresses(route).Select(a => a.Address).ToHashSet();
        foreach (var port in ports)
            if (port.HostIp is { } ip && !local.Contains(ip))
                throw new ContainerError($"publish {port}: {ip} is not an address of this host");
    }

    /// <summary>The subnet for a new bridge: <paramref name="wanted"/> when given (it must not overlap
    /// the host's addresses and routes), else the first free candidate.</summary>
    static Ipv4Subnet ChooseSubnet(NetlinkSocket route, Ipv4Subnet? wanted, bool askedByUser, NetworkSettings settings)
    {
        var prefixes = HostLinks.Prefixes(route);
        if (wanted is { } subnet)
        {
            if (HostLinks.FirstOverlap(subnet, prefixes) is not { } overlap) return subnet;
            if (askedByUser)
                throw new ContainerError($"invalid --subnet {subnet}: overlaps the host's {overlap}");
        }
        foreach (var candidate in Ipv4Subnet.Candidates)
            if (HostLinks.FirstOverlap(candidate, prefixes) is null) return candidate;
        throw new ContainerError($"no free subnet for bridge {settings.Bridge}: every candidate overlaps a host address or route; use --subnet");
    }

    static IPAddress ChooseAddress(Ipv4Subnet subnet, IPAddress? requested, List<Lease> leases, NetworkSettings settings)
    {
        var taken = leases.Select(l => l.Address).ToHashSet();
        if (requested is not null)
        {
            var host = Ipv4Subnet.ToUInt32(requested);
            if (!subnet.Contains(requested) || host == subnet.Network || host == subnet.Broadcast || requested.Equals(subnet.Gateway))
                throw new ContainerError($"invalid --ip {requested}: not a container address of {settings.Bridge}'s subnet {subnet}");
            if (leases.FirstOrDefault(l => l.Address.Equals(requested)) is { } holder)
                throw new ContainerError($"invalid --ip {requested}: taken by container {holder.ContainerId}");
            return requested;
        }
        return subnet.ContainerAddresses().FirstOrDefault(a => !taken.Contains(a))
            ?? throw new ContainerError($"no free address left in {settings.Bridge}'s subnet {subnet}");
    }

    void WriteFiles(string hostname)
    {
        var directory = settings.FilesOf(ContainerId);
        Directory.CreateDirectory(directory);
        File.WriteAllText(FileMounts[0].Source!, ContainerFiles.Hosts(hostname, Address));
        File.WriteAllText(FileMounts[1].Source!, ContainerFiles.Hostname(hostname));
        File.WriteAllText(FileMounts[2].Source!, ContainerFiles.ResolvConf(ContainerFiles.HostResolvConf(), out var nameservers));
        if (nameservers == 0)
            log.ZLogInformation($"no nameserver for the container: the host's are all on loopback, which the container cannot reach");
    }

    static void DeleteFiles(NetworkSettings settings, string containerId)
    {
        var directory = settings.FilesOf(containerId);
        if (Directory.Exists(directory)) Directory.Delete(directory, recursive: true);
    }

    static string HostLinkOf(string containerId)
    {
        var id = new string(containerId.ToLowerInvariant().Where(char.IsAsciiLetterOrDigit).Take(10).ToArray());
        return id.Length > 0 ? "tiny" + id : throw new ContainerError($"container id {containerId} names no veth");
    }
}
