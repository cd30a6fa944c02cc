using System.Net;
using Tiny.Interop;

namespace Tiny.Runtime.Network;

/// <summary>A rule tiny added: where it is and its handle, by which it is deleted.</summary>
public readonly record struct InstalledRule(string Chain, ulong Handle);

/// <summary>
/// tiny's own nf_tables table (`ip tiny`): three nat base chains and, per container, a masquerade
/// rule and two DNAT rules per published port, each commented with the container id. No other table
/// or chain is ever touched.
/// </summary>
internal sealed class NatTable(string table, string bridge)
{
    public const string Prerouting = "prerouting", Output = "output", Postrouting = "postrouting";
    const int DestinationNatPriority = -100, SourceNatPriority = 100;
    const ushort Flags = NetlinkWriter.NLM_F_REQUEST | NetlinkWriter.NLM_F_ACK;
    const ushort RuleFlags = Flags | NetlinkWriter.NLM_F_CREATE | NetlinkWriter.NLM_F_APPEND | NetlinkWriter.NLM_F_ECHO;

    public string Name => table;

    /// <summary>`ip saddr ADDRESS oifname != BRIDGE masquerade`: the container's traffic that leaves
    /// through any other interface gets the host's address.</summary>
    public static NftExpression[] MasqueradeOutgoing(IPAddress source, string bridge) =>
    [
        new PayloadLoad(PayloadBase.Network, 12, 4), Compare.Address(source),
        new MetaLoad(MetaKey.OutputInterfaceName), Compare.InterfaceName(false, bridge),
        new Masquerade(),
    ];

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

    /// <summary>The table, its chains and the loopback masquerade rule, as `nft -f` would add them.</summary>
    public void WriteSetup(NetlinkWriter w, NetlinkSocket socket, ushort flags)
    {
        NftMessages.AddTable(w, socket.NextSequence(), flags, table);
        NftMessages.AddNatChain(w, socket.NextSequence(), (ushort)(flags | NetlinkWriter.NLM_F_CREATE), table, Prerouting, NftMessages.Hook.Prerouting, DestinationNatPriority);
        NftMessages.AddNatChain(w, socket.NextSequence(), (ushort)(flags | NetlinkWriter.NLM_F_CREATE), table, Output, NftMessages.Hook.Output, DestinationNatPriority);
        NftMessages.AddNatChain(w, socket.NextSequence(), (ushort)(flags | NetlinkWriter.NLM_F_CREATE), table, Postrouting, NftMessages.Hook.Postrouting, SourceNatPriority);
        NftMessages.AddRule(w, socket.NextSequence(), (ushort)(flags | NetlinkWriter.NLM_F_CREATE | NetlinkWriter.NLM_F_APPEND), table, Postrouting, MasqueradeLoopbackToBridge(bridge), null);
    }

    public bool Exists(NetlinkSocket socket)
    {
        var w = new NetlinkWriter();
        NftMessages.GetTable(w, socket.NextSequence(), table);
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

    /// <summary>Adds a container's rules in one batch (with the table first when <paramref name="createTable"/>)
    /// and returns their handles, which the kernel echoes back.</summary>
    public List<InstalledRule> AddContainerRules(NetlinkSocket socket, bool createTable, string containerId,
        IPAddress address, IReadOnlyList<PortMapping> ports)
    {
        var w = new NetlinkWriter();
        NftMessages.BatchBegin(w, socket.NextSequence());
        var messages = 0;
        if (createTable)
        {
            WriteSetup(w, socket, Flags);
            messages += 5;
        }
        NftMessages.AddRule(w, socket.NextSequence(), RuleFlags, table, Postrouting, MasqueradeOutgoing(address, bridge), containerId);
        messages++;
        foreach (var port in ports)
        {
            var rule = PublishPort(port, address);
            NftMessages.AddRule(w, socket.NextSequence(), RuleFlags, table, Prerouting, rule, containerId);
            NftMessages.AddRule(w, socket.NextSequence(), RuleFlags, table, Output, rule, containerId);
            messages += 2;
        }
        NftMessages.BatchEnd(w, socket.NextSequence());
        var installed = new List<InstalledRule>();
        socket.Execute(w, messages, (message, payload) =>
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
