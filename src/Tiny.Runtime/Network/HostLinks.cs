using System.Net;
using Tiny.Interop;

namespace Tiny.Runtime.Network;

/// <summary>Links and prefixes of the host's network namespace, over a NETLINK_ROUTE socket.</summary>
internal static class HostLinks
{
    /// <summary>The index and MTU of the link <paramref name="name"/>, or null when there is none.</summary>
    public static (int Index, int Mtu)? Find(NetlinkSocket socket, string name)
    {
        var w = new NetlinkWriter();
        RouteMessages.GetLink(w, socket.NextSequence(), name, NetlinkWriter.NLM_F_REQUEST | NetlinkWriter.NLM_F_ACK);
        (int, int)? link = null;
        try
        {
            socket.Execute(w, 1, (message, payload) =>
            {
                if (message.Type == RouteMessages.RTM_NEWLINK)
                    link = (RouteMessages.IndexOfLink(payload), RouteMessages.MtuOfLink(payload));
            });
        }
        catch (SyscallException e) when (e.Errno == Errno.ENODEV)
        {
            return null;
        }
        return link;
    }

    /// <summary>Creates the bridge, up, with the gateway address of <paramref name="subnet"/>, and lets
    /// it route DNATed loopback traffic (route_localnet, as Docker does for its bridge).</summary>
    public static int CreateBridge(NetlinkSocket socket, string name, Ipv4Subnet subnet)
    {
        var w = new NetlinkWriter();
        RouteMessages.CreateBridge(w, socket.NextSequence(), name);
        socket.Execute(w, 1);
        try
        {
            var index = Find(socket, name)?.Index ?? throw new SyscallException("netlink", Errno.ENODEV, $"find bridge {name}");
            w = new NetlinkWriter();
            RouteMessages.AddAddress(w, socket.NextSequence(), index, subnet.Gateway, subnet.PrefixLength, name);
            socket.Execute(w, 1);
            File.WriteAllText($"/proc/sys/net/ipv4/conf/{name}/route_localnet", "1");
            return index;
        }
        catch
        {
            Delete(socket, name);
            throw;
        }
    }

    /// <summary>Deletes a link (for a veth, the pair); false when it was already gone.</summary>
    public static bool Delete(NetlinkSocket socket, string name)
    {
        var w = new NetlinkWriter();
        RouteMessages.DeleteLink(w, socket.NextSequence(), name);
        try
        {
            socket.Execute(w, 1);
            return true;
        }
        catch (SyscallException e) when (e.Errno == Errno.ENODEV)
        {
            return false;
        }
    }

    /// <summary>Every IPv4 prefix the host has an address in or a route to (default routes aside).</summary>
    public static List<Ipv4Subnet> Prefixes(NetlinkSocket socket)
    {
        var prefixes = Addresses(socket).Select(a => Ipv4Subnet.Containing(a.Address, a.PrefixLength)).ToList();
        var w = new NetlinkWriter();
        RouteMessages.DumpRoutes(w, socket.NextSequence());
        socket.Dump(w, (message, payload) =>
        {
            if (message.Type == RouteMessages.RTM_NEWROUTE && RouteMessages.DestinationOfRoute(payload) is { } subnet) prefixes.Add(subnet);
        });
        return prefixes;
    }

    /// <summary>The host's IPv4 addresses, with their prefix lengths.</summary>
    public static List<(IPAddress Address, int PrefixLength)> Addresses(NetlinkSocket socket)
    {
        var addresses = new List<(IPAddress, int)>();
        var w = new NetlinkWriter();
        RouteMessages.DumpAddresses(w, socket.NextSequence());
        socket.Dump(w, (message, payload) =>
        {
            if (message.Type == RouteMessages.RTM_NEWADDR && RouteMessages.AddressOf(payload) is { } address) addresses.Add(address);
        });
        return addresses;
    }

    /// <summary>Turns on IPv4 forwarding unless it is on.</summary>
    public static void EnableForwarding()
    {
        const string path = "/proc/sys/net/ipv4/ip_forward";
        if (File.ReadAllText(path).Trim() != "1") File.WriteAllText(path, "1");
    }

    /// <summary>The first of <paramref name="prefixes"/> that overlaps <paramref name="subnet"/>.</summary>
    public static Ipv4Subnet? FirstOverlap(Ipv4Subnet subnet, IEnumerable<Ipv4Subnet> prefixes) =>
        prefixes.Where(p => p.Overlaps(subnet)).Cast<Ipv4Subnet?>().FirstOrDefault();
}
