using System.Net;
using Tiny.Runtime.Network;

namespace Tiny.Tests.Unit.Network;

/// <summary>rtnetlink requests, byte for byte against what iproute2 sent for the same change.</summary>
public class NetlinkEncodingTests
{
    const uint IpSequence = 0x6b044cac;
    const ushort Request = NetlinkWriter.NLM_F_REQUEST;

    static string Encode(Action<NetlinkWriter> write)
    {
        var w = new NetlinkWriter();
        write(w);
        return Convert.ToHexStringLower(w.Written);
    }

    [Test]
    public async Task CreateBridge_matches_ip_link_add_up_type_bridge() =>
        await Assert.That(Encode(w => RouteMessages.CreateBridge(w, IpSequence, "tinytcap0")))
            .IsEqualTo(Captured.Hex("bridge_create.1"));

    [Test]
    public async Task AddAddress_matches_ip_addr_add() =>
        await Assert.That(Encode(w => RouteMessages.AddAddress(w, IpSequence, 17, IPAddress.Parse("10.77.0.1"), 16, "tinytcap0")))
            .IsEqualTo(Captured.Hex("address_add.1"));

    [Test]
    public async Task CreateVethPair_matches_ip_link_add_veth_with_peer_in_netns() =>
        await Assert.That(Encode(w => RouteMessages.CreateVethPair(w, IpSequence, "tinytcap1", 1500, 17, "eth0", 4)))
            .IsEqualTo(Captured.Hex("veth_create.2"));

    [Test]
    public async Task GetLink_matches_ip_link_show() =>
        await Assert.That(Encode(w => RouteMessages.GetLink(w, IpSequence, "eth0", Request)))
            .IsEqualTo(Captured.Hex("container_getlink.2"));

    [Test]
    public async Task SetLinkUp_matches_ip_link_set_up()
    {
        await Assert.That(Encode(w => RouteMessages.SetLinkUp(w, IpSequence, 1, "lo"))).IsEqualTo(Captured.Hex("container_lo_up.2"));
        await Assert.That(Encode(w => RouteMessages.SetLinkUp(w, IpSequence, 2, "eth0"))).IsEqualTo(Captured.Hex("container_eth0_up.2"));
    }

    [Test]
    public async Task AddAddress_in_container_matches_ip_addr_add() =>
        await Assert.That(Encode(w => RouteMessages.AddAddress(w, IpSequence, 2, IPAddress.Parse("10.77.0.2"), 16, "eth0")))
            .IsEqualTo(Captured.Hex("container_address_add.1"));

    [Test]
    public async Task AddDefaultRoute_matches_ip_route_add_default_via() =>
        await Assert.That(Encode(w => RouteMessages.AddDefaultRoute(w, IpSequence, IPAddress.Parse("10.77.0.1"))))
            .IsEqualTo(Captured.Hex("container_default_route.0"));

    [Test]
    public async Task DeleteLink_by_name_is_ip_link_del_with_the_name_for_the_index()
    {
        // ip resolves the name and sends ifi_index (veth_delete.2: index 18); tiny sends index 0 and
        // IFLA_IFNAME (rtnetlink(7): "ifi_index is the unique interface index"; rtnl_dellink() looks
        // the name up when it is 0): the same header, then a 14-byte IFLA_IFNAME padded to 16.
        var ip = Captured.Hex("veth_delete.2");
        var expected = "30000000" + ip[8..40] + "00000000" + ip[48..] + "0e000300" + Convert.ToHexStringLower("tinytcap1\0\0\0"u8);
        await Assert.That(Encode(w => RouteMessages.DeleteLink(w, 0x6b044cad, "tinytcap1"))).IsEqualTo(expected);
    }

    [Test]
    public async Task Nested_attribute_lengths_include_the_padding_of_their_last_attribute()
    {
        var hex = Encode(w =>
        {
            w.BeginMessage(1, Request, 7, "test");
            var nest = w.BeginNested(5);
            w.Attribute(6, [0xaa]);
            w.EndNested(nest);
            w.EndMessage();
        });
        // nlmsghdr (len 28) | nest len 12 type 5 | attr len 5 type 6, 0xaa, 3 bytes of padding
        await Assert.That(hex).IsEqualTo("1c000000010001000700000000000000" + "0c000500" + "05000600aa000000");
    }

    [Test]
    public async Task Reply_parsing_reads_index_mtu_and_prefixes()
    {
        // An RTM_NEWLINK reply: ifinfomsg with index 9, then IFLA_MTU 1400.
        byte[] link = [0, 0, 1, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 4, 0, 0x78, 0x05, 0, 0];
        await Assert.That(RouteMessages.IndexOfLink(link)).IsEqualTo(9);
        await Assert.That(RouteMessages.MtuOfLink(link)).IsEqualTo(1400);
        // An RTM_NEWADDR reply for 192.168.5.7/24: ifaddrmsg, IFA_ADDRESS, IFA_LOCAL.
        byte[] address = [2, 24, 0, 0, 3, 0, 0, 0, 8, 0, 1, 0, 192, 168, 5, 7, 8, 0, 2, 0, 192, 168, 5, 7];
        await Assert.That(RouteMessages.AddressOf(address)).IsEqualTo((IPAddress.Parse("192.168.5.7"), 24));
    }
}
