using System.Net;

namespace Tiny.Runtime.Network;

/// <summary>
/// rtnetlink requests (rtnetlink(7); linux/rtnetlink.h, linux/if_link.h, linux/veth.h), laid out as
/// iproute2's `ip` lays them out, attribute for attribute.
/// </summary>
internal static class RouteMessages
{
    public const ushort RTM_NEWLINK = 16, RTM_DELLINK = 17, RTM_GETLINK = 18, RTM_NEWADDR = 20,
        RTM_GETADDR = 22, RTM_NEWROUTE = 24, RTM_GETROUTE = 26;
    const ushort IFLA_ADDRESS = 1, IFLA_IFNAME = 3, IFLA_MTU = 4, IFLA_MASTER = 10, IFLA_LINKINFO = 18,
        IFLA_NET_NS_FD = 28, IFLA_EXT_MASK = 29, IFLA_INFO_KIND = 1, IFLA_INFO_DATA = 2, VETH_INFO_PEER = 1,
        IFA_ADDRESS = 1, IFA_LOCAL = 2, RTA_DST = 1, RTA_GATEWAY = 5;
    const byte AF_UNSPEC = 0, AF_INET = 2, AF_PACKET = 17, RT_TABLE_MAIN = 254, RTPROT_BOOT = 3,
        RT_SCOPE_UNIVERSE = 0, RTN_UNICAST = 1;
    const uint IFF_UP = 1, RTEXT_FILTER_VF = 1;
    const ushort Create = NetlinkWriter.NLM_F_REQUEST | NetlinkWriter.NLM_F_ACK | NetlinkWriter.NLM_F_EXCL | NetlinkWriter.NLM_F_CREATE;
    const ushort Change = NetlinkWriter.NLM_F_REQUEST | NetlinkWriter.NLM_F_ACK;

    /// <summary>struct ifinfomsg: family, pad, type, index, flags, change.</summary>
    static void LinkHeader(NetlinkWriter w, byte family = AF_UNSPEC, int index = 0, uint flags = 0, uint change = 0)
    {
        w.UInt8(family);
        w.UInt8(0);
        w.UInt16(0);
        w.UInt32((uint)index);
        w.UInt32(flags);
        w.UInt32(change);
    }

    /// <summary>`ip link add NAME up type bridge`.</summary>
    public static void CreateBridge(NetlinkWriter w, uint sequence, string name)
    {
        w.BeginMessage(RTM_NEWLINK, Create, sequence, $"create bridge {name}");
        LinkHeader(w, flags: IFF_UP, change: IFF_UP);
        w.AttributeString(IFLA_IFNAME, name);
        var linkInfo = w.BeginNested(IFLA_LINKINFO);
        w.Attribute(IFLA_INFO_KIND, "bridge"u8);
        w.EndNested(linkInfo);
        w.EndMessage();
    }

    /// <summary>`ip link add HOST mtu MTU master BRIDGE up type veth peer name PEER mtu MTU netns FD`:
    /// the pair with its host end on the bridge and up, its peer created directly in the container's
    /// namespace. The peer cannot be brought up here: veth_open() fails with ENOTCONN while the
    /// pair is half made (drivers/net/veth.c), so it is set up from inside the namespace.</summary>
    public static void CreateVethPair(NetlinkWriter w, uint sequence, string hostName, int mtu, int bridgeIndex,
        string peerName, int peerNamespaceFd)
    {
        w.BeginMessage(RTM_NEWLINK, Create, sequence, $"create veth {hostName}");
        LinkHeader(w, flags: IFF_UP, change: IFF_UP);
        w.AttributeUInt32(IFLA_MTU, (uint)mtu);
        w.AttributeUInt32(IFLA_MASTER, (uint)bridgeIndex);
        w.AttributeString(IFLA_IFNAME, hostName);
        var linkInfo = w.BeginNested(IFLA_LINKINFO);
        w.Attribute(IFLA_INFO_KIND, "veth"u8);
        var data = w.BeginNested(IFLA_INFO_DATA);
        var peer = w.BeginNested(VETH_INFO_PEER);
        LinkHeader(w);
        w.AttributeUInt32(IFLA_MTU, (uint)mtu);
        w.AttributeUInt32(IFLA_NET_NS_FD, (uint)peerNamespaceFd);
        w.AttributeString(IFLA_IFNAME, peerName);
        w.EndNested(peer);
        w.EndNested(data);
        w.EndNested(linkInfo);
        w.EndMessage();
    }

    /// <summary>`ip link show NAME`: one RTM_NEWLINK reply, or ENODEV.</summary>
    public static void GetLink(NetlinkWriter w, uint sequence, string name, ushort flags)
    {
        w.BeginMessage(RTM_GETLINK, flags, sequence, $"find link {name}");
        LinkHeader(w, AF_PACKET);
        w.AttributeString(IFLA_IFNAME, name);
        w.AttributeUInt32(IFLA_EXT_MASK, RTEXT_FILTER_VF);
        w.EndMessage();
    }

    /// <summary>`ip link set dev INDEX up`.</summary>
    public static void SetLinkUp(NetlinkWriter w, uint sequence, int index, string name)
    {
        w.BeginMessage(RTM_NEWLINK, Change, sequence, $"set {name} up");
        LinkHeader(w, index: index, flags: IFF_UP, change: IFF_UP);
        w.EndMessage();
    }

    /// <summary>Deletes a link by name (rtnl_dellink() looks IFLA_IFNAME up when ifi_index is 0);
    /// deleting one end of a veth pair deletes both.</summary>
    public static void DeleteLink(NetlinkWriter w, uint sequence, string name)
    {
        w.BeginMessage(RTM_DELLINK, Change, sequence, $"delete link {name}");
        LinkHeader(w);
        w.AttributeString(IFLA_IFNAME, name);
        w.EndMessage();
    }

    /// <summary>`ip addr add ADDRESS/PREFIX dev INDEX`.</summary>
    public static void AddAddress(NetlinkWriter w, uint sequence, int index, IPAddress address, int prefixLength, string name)
    {
        w.BeginMessage(RTM_NEWADDR, Create, sequence, $"add address {address}/{prefixLength} to {name}");
        w.UInt8(AF_INET);
        w.UInt8((byte)prefixLength);
        w.UInt8(0);
        w.UInt8(RT_SCOPE_UNIVERSE);
        w.UInt32((uint)index);
        w.Attribute(IFA_LOCAL, address.GetAddressBytes());
        w.Attribute(IFA_ADDRESS, address.GetAddressBytes());
        w.EndMessage();
    }

    /// <summary>`ip route add default via GATEWAY`.</summary>
    public static void AddDefaultRoute(NetlinkWriter w, uint sequence, IPAddress gateway)
    {
        w.BeginMessage(RTM_NEWROUTE, Create, sequence, $"add default route via {gateway}");
        RouteHeader(w, RT_TABLE_MAIN, RTPROT_BOOT, RTN_UNICAST);
        w.Attribute(RTA_GATEWAY, gateway.GetAddressBytes());
        w.EndMessage();
    }

    /// <summary>Dumps every IPv4 address (`ip -4 addr`).</summary>
    public static void DumpAddresses(NetlinkWriter w, uint sequence)
    {
        w.BeginMessage(RTM_GETADDR, NetlinkWriter.NLM_F_REQUEST | NetlinkWriter.NLM_F_DUMP, sequence, "list addresses");
        w.UInt8(AF_INET);
        w.UInt8(0);
        w.UInt8(0);
        w.UInt8(0);
        w.UInt32(0);
        w.EndMessage();
    }

    /// <summary>Dumps every IPv4 route of every table (`ip -4 route show table all`).</summary>
    public static void DumpRoutes(NetlinkWriter w, uint sequence)
    {
        w.BeginMessage(RTM_GETROUTE, NetlinkWriter.NLM_F_REQUEST | NetlinkWriter.NLM_F_DUMP, sequence, "list routes");
        RouteHeader(w, 0, 0, 0);
        w.EndMessage();
    }

    /// <summary>struct rtmsg for IPv4 with no destination or source prefix.</summary>
    static void RouteHeader(NetlinkWriter w, byte table, byte protocol, byte type)
    {
        w.UInt8(AF_INET);
        w.UInt8(0);
        w.UInt8(0);
        w.UInt8(0);
        w.UInt8(table);
        w.UInt8(protocol);
        w.UInt8(RT_SCOPE_UNIVERSE);
        w.UInt8(type);
        w.UInt32(0);
    }

    /// <summary>The interface index of an RTM_NEWLINK reply (ifi_index of its ifinfomsg).</summary>
    public static int IndexOfLink(ReadOnlySpan<byte> payload) => BitConverter.ToInt32(payload[4..8]);

    /// <summary>IFLA_MTU of an RTM_NEWLINK reply.</summary>
    public static int MtuOfLink(ReadOnlySpan<byte> payload)
    {
        var attributes = new NetlinkAttributes(payload[16..]);
        while (attributes.MoveNext())
            if (attributes.Type == IFLA_MTU) return (int)attributes.ValueUInt32;
        return 1500;
    }

    /// <summary>The prefix an RTM_NEWADDR reply assigns (IFA_LOCAL, else IFA_ADDRESS, with ifa_prefixlen).</summary>
    public static (IPAddress Address, int PrefixLength)? AddressOf(ReadOnlySpan<byte> payload)
    {
        if (payload.Length < 8 || payload[0] != AF_INET) return null;
        IPAddress? address = null;
        var attributes = new NetlinkAttributes(payload[8..]);
        while (attributes.MoveNext())
            if (attributes.Type is IFA_LOCAL or IFA_ADDRESS && attributes.Value.Length == 4 && (address is null || attributes.Type == IFA_LOCAL))
                address = new IPAddress(attributes.Value);
        return address is null ? null : (address, payload[1]);
    }

    /// <summary>The destination prefix of an RTM_NEWROUTE reply; null for a default route.</summary>
    public static Ipv4Subnet? DestinationOfRoute(ReadOnlySpan<byte> payload)
    {
        if (payload.Length < 12 || payload[0] != AF_INET || payload[1] == 0) return null;
        var attributes = new NetlinkAttributes(payload[12..]);
        while (attributes.MoveNext())
            if (attributes.Type == RTA_DST && attributes.Value.Length == 4)
                return Ipv4Subnet.Containing(new IPAddress(attributes.Value), payload[1]);
        return null;
    }
}
