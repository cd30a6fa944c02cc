using System.Net;
using Tiny.Interop;

namespace Tiny.Runtime.Network;

/// <summary>A rule tiny added: where it is and its handle, by which it is deleted.</summary>
public readonly record struct InstalledRule(string Chain, ulong Handle);

/// <summary>
/// tiny's own nf_tables table (`ip tiny`): three nat base chains, the bridge subnet's masquerade
/// rule and, per container, two DNAT rules per published port, commented with the container id. A
/// container without published ports adds and deletes no rule: deleting rules costs the next release
/// of a netfilter socket an RCU grace period (nf_tables_trans_destroy_flush_work()). No other table or
/// chain is ever touched.
/// </summary>
internal sealed class NatTable(string table, string bridge)
{
    public const string Prerouting = "prerouting", Output = "output", Postrouting = "postrouting";
    const int DestinationNatPriority = -100, SourceNatPriority = 100;
    const ushort Flags = NetlinkWriter.NLM_F_REQUEST | NetlinkWriter.NLM_F_ACK;
    const ushort RuleFlags = Flags | NetlinkWriter.NLM_F_CREATE | NetlinkWriter.NLM_F_APPEND | NetlinkWriter.NLM_F_ECHO;

    public string Name => table;

    /// <summary>`ip saddr SUBNET oifname != BRIDGE masquerade`: the containers' traffic that leaves
    /// through any other interface gets the host's address. As nft encodes a prefix: a shorter load
    /// when it ends on a byte, else a load of the whole address and a mask.</summary>
    public static NftExpression[] MasqueradeOutgoing(Ipv4Subnet subnet, string bridge)
    {
        var network = Ipv4Subnet.ToAddress(subnet.Network).GetAddressBytes();
        NftExpression[] match = subnet.PrefixLength % 8 == 0
            ? [new PayloadLoad(PayloadBase.Network, 12, (uint)subnet.PrefixLength / 8), new Compare(true, network[..(subnet.PrefixLength / 8)])]
            : [new PayloadLoad(PayloadBase.Network, 12, 4), new BitwiseMask(Ipv4Subnet.ToAddress(subnet.Mask).GetAddressBytes()), new Compare(true, network)];
        return [.. match, new MetaLoad(MetaKey.OutputInterfaceName), Compare.InterfaceName(false, bridge), new Masquerade()];
    }

    /// <summary>`ip saddr 127.0.0.0/8 oifname BRIDGE masquerade`: a connection to 127.0.0.1:HOSTPORT,
    /// DNATed to a container, must not reach the bridge with a loopback source (the bridge also
    /// needs route_localnet for the routing decision).</summary>
    public static NftExpression[] MasqueradeLoopbackToBridge(string bridge) =>
    [
        new PayloadLoad(PayloadBase.Network, 12, 1), new Compare(true, [127]),
        new MetaLoad(MetaKey.OutputInterfaceName), Compare.InterfaceName(true, bridge),
        new Masquerade(),
    ];

    /// <summary>`fib daddr type local` (or `ip daddr HOSTIP`) `tcp|udp dport HOSTPORT dnat to ADDRESS:PORT`.</summary>
    public static NftExpression[] PublishPort(PortMapping port, IPAddress container)
    {
        var containerPort = new byte[2];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(containerPort, (ushort)port.ContainerPort);
        return
        [
            .. port.HostIp is null
                ? new NftExpression[] { new FibDestinationType(), new Compare(true, BitConverter.GetBytes(FibDestinationType.RTN_LOCAL)) }
                : [new PayloadLoad(PayloadBase.Network, 16, 4), Compare.Address(port.HostIp)],
            new MetaLoad(MetaKey.Layer4Protocol), new Compare(true, [port.Protocol == PortProtocol.Tcp ? (byte)6 : (byte)17]),
            new PayloadLoad(PayloadBase.Transport, 2, 2), Compare.Port(port.HostPort),
            new Immediate(1, container.GetAddressBytes()), new Immediate(2, containerPort),
            new DestinationNat(),
        ];
    }

    /// <summary>The table, its chains and the masquerade rules, as `nft -f` would add them.</summary>
    public void WriteSetup(NetlinkWriter w, NetlinkSocket socket, ushort flags, Ipv4Subnet subnet)
    {
        NftMessages.AddTable(w, socket.NextSequence(), flags, table);
        NftMessages.AddNatChain(w, socket.NextSequence(), (ushort)(flags | NetlinkWriter.NLM_F_CREATE), table, Prerouting, NftMessages.Hook.Prerouting, DestinationNatPriority);
        NftMessages.AddNatChain(w, socket.NextSequence(), (ushort)(flags | NetlinkWriter.NLM_F_CREATE), table, Output, NftMessages.Hook.Output, DestinationNatPriority);
        NftMessages.AddNatChain(w, socket.NextSequence(), (ushort)(flags | NetlinkWriter.NLM_F_CREATE), table, Postrouting, NftMessages.Hook.Postrouting, SourceNatPriority);
        NftMessages.AddRule(w, socket.NextSequence(), (ushort)(flags | NetlinkWriter.NLM_F_CREATE | NetlinkWriter.NLM_F_APPEND), table, Postrouting, MasqueradeLoopbackToBridge(bridge), null);
        AddSubnetMasquerade(w, socket, flags, subnet);
    }

    /// <summary>The comment that marks the masquerade rule of <paramref name="subnet"/>.</summary>
    public static string MasqueradeComment(Ipv4Subnet subnet) => $"masquerade {subnet}";

    void AddSubnetMasquerade(NetlinkWriter w, NetlinkSocket socket, ushort flags, Ipv4Subnet subnet) =>
        NftMessages.AddRule(w, socket.NextSequence(), (ushort)(flags | NetlinkWriter.NLM_F_CREATE | NetlinkWriter.NLM_F_APPEND), table,
            Postrouting, MasqueradeOutgoing(subnet, bridge), MasqueradeComment(subnet));

    /// <summary>Makes sure the table exists and masquerades <paramref name="subnet"/> (and no other
    /// subnet, as a table from an earlier bridge or tiny version may): one dump when it does.</summary>
    public void EnsureFor(NetlinkSocket socket, Ipv4Subnet subnet)
    {
        var wanted = MasqueradeComment(subnet);
        var others = new List<InstalledRule>();
        var (rules, found) = (0, false);
        var w = new NetlinkWriter();
        NftMessages.DumpRules(w, socket.NextSequence(), table);
        socket.Dump(w, (_, payload) =>
        {
            var (chain, handle, comment) = NftMessages.ParseRule(payload);
            rules++;
            if (comment == wanted) found = true;
            else if (comment?.StartsWith("masquerade ", StringComparison.Ordinal) == true) others.Add(new(chain, handle));
        });
        // A rule dump of a missing table is empty, not an error; tiny's table always has rules.
        if (rules == 0)
        {
            Create(socket, subnet);
            return;
        }
        DeleteRules(socket, others);
        if (found) return;
        w = new NetlinkWriter();
        NftMessages.BatchBegin(w, socket.NextSequence());
        AddSubnetMasquerade(w, socket, Flags, subnet);
        NftMessages.BatchEnd(w, socket.NextSequence());
        socket.Execute(w, 1);
    }

    /// <summary>The table with its chains and masquerade rules for <paramref name="subnet"/>, in one batch.</summary>
    void Create(NetlinkSocket socket, Ipv4Subnet subnet)
    {
        var w = new NetlinkWriter();
        NftMessages.BatchBegin(w, socket.NextSequence());
        WriteSetup(w, socket, Flags, subnet);
        NftMessages.BatchEnd(w, socket.NextSequence());
        socket.Execute(w, 6);
    }

    /// <summary>Adds a container's DNAT rules in one batch and returns their handles, which the kernel
    /// echoes back.</summary>
    public List<InstalledRule> AddContainerRules(NetlinkSocket socket, string containerId, IPAddress address,
        IReadOnlyList<PortMapping> ports)
    {
        if (ports.Count == 0) return [];
        var w = new NetlinkWriter();
        NftMessages.BatchBegin(w, socket.NextSequence());
        foreach (var port in ports)
        {
            var rule = PublishPort(port, address);
            NftMessages.AddRule(w, socket.NextSequence(), RuleFlags, table, Prerouting, rule, containerId);
            NftMessages.AddRule(w, socket.NextSequence(), RuleFlags, table, Output, rule, containerId);
        }
        NftMessages.BatchEnd(w, socket.NextSequence());
        var installed = new List<InstalledRule>();
        socket.Execute(w, 2 * ports.Count, (message, payload) =>
        {
            if (message.Type != NftMessages.NewRuleType) return;
            var (chain, handle, comment) = NftMessages.ParseRule(payload);
            if (comment == containerId) installed.Add(new(chain, handle));
        });
        return installed;
    }

    /// <summary>Deletes rules by handle in one batch. Rules already gone (a flushed or pruned table)
    /// are not an error; the batch is then retried rule by rule, since one failure aborts a batch.</summary>
    public void DeleteRules(NetlinkSocket socket, IReadOnlyList<InstalledRule> rules)
    {
        if (rules.Count == 0) return;
        try
        {
            DeleteRulesInOneBatch(socket, rules);
        }
        catch (SyscallException e) when (e.Errno == Errno.ENOENT && rules.Count > 1)
        {
            foreach (var rule in rules)
            {
                try { DeleteRulesInOneBatch(socket, [rule]); }
                catch (SyscallException gone) when (gone.Errno == Errno.ENOENT) { }
            }
        }
        catch (SyscallException e) when (e.Errno == Errno.ENOENT) { }
    }

    void DeleteRulesInOneBatch(NetlinkSocket socket, IReadOnlyList<InstalledRule> rules)
    {
        var w = new NetlinkWriter();
        NftMessages.BatchBegin(w, socket.NextSequence());
        foreach (var rule in rules) NftMessages.DeleteRule(w, socket.NextSequence(), Flags, table, rule.Chain, rule.Handle);
        NftMessages.BatchEnd(w, socket.NextSequence());
        socket.Execute(w, rules.Count);
    }

    /// <summary>The rules whose comment is one of <paramref name="containerIds"/> (what dead containers left).</summary>
    public List<InstalledRule> FindRules(NetlinkSocket socket, IReadOnlySet<string> containerIds)
    {
        var found = new List<InstalledRule>();
        var w = new NetlinkWriter();
        NftMessages.DumpRules(w, socket.NextSequence(), table);
        try
        {
            socket.Dump(w, (_, payload) =>
            {
                var (chain, handle, comment) = NftMessages.ParseRule(payload);
                if (comment is not null && containerIds.Contains(comment)) found.Add(new(chain, handle));
            });
        }
        catch (SyscallException e) when (e.Errno == Errno.ENOENT) { }
        return found;
    }

    /// <summary>Deletes the table with its chains and rules; false when there was none.</summary>
    public bool Delete(NetlinkSocket socket)
    {
        var w = new NetlinkWriter();
        NftMessages.BatchBegin(w, socket.NextSequence());
        NftMessages.DeleteTable(w, socket.NextSequence(), Flags, table);
        NftMessages.BatchEnd(w, socket.NextSequence());
        try
        {
            socket.Execute(w, 1);
            return true;
        }
        catch (SyscallException e) when (e.Errno == Errno.ENOENT)
        {
            return false;
        }
    }
}
