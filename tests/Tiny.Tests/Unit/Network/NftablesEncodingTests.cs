using System.Net;
using Tiny.Runtime.Network;

namespace Tiny.Tests.Unit.Network;

/// <summary>nf_tables batches, byte for byte against what `nft -f` sent (Captured/capture.sh: the
/// setup.nft and rules.nft it writes).</summary>
public class NftablesEncodingTests
{
    const string Table = "tiny_test_cap", Bridge = "tinytcap0", Comment = "c0ffee";
    const ushort Request = NetlinkWriter.NLM_F_REQUEST;
    const ushort NftRuleFlags = Request | NetlinkWriter.NLM_F_CREATE | NetlinkWriter.NLM_F_APPEND;
    static readonly IPAddress Container = IPAddress.Parse("10.77.0.2");

    static string Encode(Action<NetlinkWriter> write)
    {
        var w = new NetlinkWriter();
        write(w);
        return Convert.ToHexStringLower(w.Written);
    }

    [Test]
    public async Task Setup_batch_matches_nft_add_table_chains_and_loopback_masquerade() =>
        await Assert.That(Encode(w =>
        {
            NftMessages.BatchBegin(w, 0);
            NftMessages.AddTable(w, 1, Request, Table);
            NftMessages.AddNatChain(w, 2, Request | NetlinkWriter.NLM_F_CREATE, Table, NatTable.Prerouting, NftMessages.Hook.Prerouting, -100);
            NftMessages.AddNatChain(w, 3, Request | NetlinkWriter.NLM_F_CREATE, Table, NatTable.Output, NftMessages.Hook.Output, -100);
            NftMessages.AddNatChain(w, 4, Request | NetlinkWriter.NLM_F_CREATE, Table, NatTable.Postrouting, NftMessages.Hook.Postrouting, 100);
            NftMessages.AddRule(w, 5, NftRuleFlags, Table, NatTable.Postrouting, NatTable.MasqueradeLoopbackToBridge(Bridge), null);
            NftMessages.BatchEnd(w, 6);
        })).IsEqualTo(Captured.Hex("nft_setup.6"));

    [Test]
    [Arguments("10.77.0.0/16", 1)]
    [Arguments("10.77.16.0/20", 2)]
    public async Task Subnet_masquerade_matches_nft_ip_saddr_prefix_oifname_masquerade_comment(string subnet, int message) =>
        await Assert.That(Encode(w => NftMessages.AddRule(w, (uint)message, NftRuleFlags, Table,
                NatTable.Postrouting, NatTable.MasqueradeOutgoing(Ipv4Subnet.Parse(subnet, "test"), Bridge), $"masquerade {subnet}")))
            .IsEqualTo(Captured.MessageOf("nft_subnet_rules.8", message));

    [Test]
    public async Task Published_port_rules_match_nft_fib_daddr_type_local_dnat()
    {
        var rule = NatTable.PublishPort(PortMapping.Parse("18080:80"), Container);
        await Assert.That(Encode(w => NftMessages.AddRule(w, 2, NftRuleFlags | NetlinkWriter.NLM_F_ECHO, Table, NatTable.Prerouting, rule, Comment)))
            .IsEqualTo(Captured.MessageOf("nft_rules.8", 2));
        await Assert.That(Encode(w => NftMessages.AddRule(w, 3, NftRuleFlags | NetlinkWriter.NLM_F_ECHO, Table, NatTable.Output, rule, Comment)))
            .IsEqualTo(Captured.MessageOf("nft_rules.8", 3));
    }

    [Test]
    public async Task Published_port_on_a_host_ip_matches_nft_ip_daddr_udp_dnat() =>
        await Assert.That(Encode(w => NftMessages.AddRule(w, 4, NftRuleFlags | NetlinkWriter.NLM_F_ECHO, Table, NatTable.Prerouting,
                NatTable.PublishPort(PortMapping.Parse("127.0.0.1:5353:53/udp"), Container), Comment)))
            .IsEqualTo(Captured.MessageOf("nft_rules.8", 4));

    [Test]
    public async Task Delete_rule_batch_matches_nft_delete_rule_handle() =>
        await Assert.That(Encode(w =>
        {
            NftMessages.BatchBegin(w, 0);
            NftMessages.DeleteRule(w, 1, Request, Table, NatTable.Postrouting, 5);
            NftMessages.BatchEnd(w, 2);
        })).IsEqualTo(Captured.Hex("nft_delete_rule.7"));

    [Test]
    public async Task Delete_table_batch_matches_nft_delete_table() =>
        await Assert.That(Encode(w =>
        {
            NftMessages.BatchBegin(w, 0);
            NftMessages.DeleteTable(w, 1, Request, Table);
            NftMessages.BatchEnd(w, 2);
        })).IsEqualTo(Captured.Hex("nft_delete_table.7"));

    [Test]
    public async Task ParseRule_reads_chain_handle_and_comment_of_an_echo()
    {
        var w = new NetlinkWriter();
        NftMessages.AddRule(w, 1, Request, Table, NatTable.Prerouting, NatTable.PublishPort(PortMapping.Parse("80:80"), Container), Comment);
        // The kernel's echo is the rule with NFTA_RULE_HANDLE (3, u64 big-endian) added.
        var message = w.Written[16..].ToArray().Concat(new byte[] { 12, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 42 }).ToArray();
        var (chain, handle, comment) = NftMessages.ParseRule(message);
        await Assert.That(chain).IsEqualTo(NatTable.Prerouting);
        await Assert.That(handle).IsEqualTo(42UL);
        await Assert.That(comment).IsEqualTo(Comment);
    }
}
