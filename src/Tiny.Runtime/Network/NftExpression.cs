using System.Buffers.Binary;
using System.Net;
using System.Text;

namespace Tiny.Runtime.Network;

/// <summary>One nf_tables expression of a rule: its name and the attributes of its NFTA_EXPR_DATA
/// (linux/netfilter/nf_tables.h). Every expression here loads into or reads from register 1 or 2
/// (NFT_REG_1, NFT_REG_2: the 16-byte registers).</summary>
internal abstract record NftExpression(string Name)
{
    protected const uint Register1 = 1, Register2 = 2;
    public abstract void WriteData(NetlinkWriter w);

    /// <summary>An nft_data value (NFTA_DATA_VALUE inside a nest).</summary>
    protected static void WriteValue(NetlinkWriter w, ushort type, ReadOnlySpan<byte> value)
    {
        var data = w.BeginNested((ushort)(type | NetlinkWriter.NLA_F_NESTED));
        w.Attribute(1, value);
        w.EndNested(data);
    }
}

internal enum PayloadBase : uint { Network = 1, Transport = 2 }

/// <summary>`payload load LENGTH @ BASE header + OFFSET => reg 1`.</summary>
internal sealed record PayloadLoad(PayloadBase Base, uint Offset, uint Length) : NftExpression("payload")
{
    public override void WriteData(NetlinkWriter w)
    {
        w.AttributeUInt32BigEndian(1, Register1);
        w.AttributeUInt32BigEndian(2, (uint)Base);
        w.AttributeUInt32BigEndian(3, Offset);
        w.AttributeUInt32BigEndian(4, Length);
    }
}

/// <summary>`cmp eq|neq reg 1 VALUE`.</summary>
internal sealed record Compare(bool Equal, byte[] Value) : NftExpression("cmp")
{
    public override void WriteData(NetlinkWriter w)
    {
        w.AttributeUInt32BigEndian(1, Register1);
        w.AttributeUInt32BigEndian(2, Equal ? 0u : 1u);
        WriteValue(w, 3, Value);
    }

    /// <summary>Compares an interface name register: the name NUL-padded to IFNAMSIZ (16).</summary>
    public static Compare InterfaceName(bool equal, string name)
    {
        var value = new byte[16];
        Encoding.ASCII.GetBytes(name, value);
        return new(equal, value);
    }

    public static Compare Address(IPAddress address) => new(true, address.GetAddressBytes());

    public static Compare Port(int port)
    {
        var value = new byte[2];
        BinaryPrimitives.WriteUInt16BigEndian(value, (ushort)port);
        return new(true, value);
    }
}

/// <summary>`bitwise reg 1 = (reg 1 &amp; MASK) ^ 0`: keeps the bits of a prefix.</summary>
internal sealed record BitwiseMask(byte[] Mask) : NftExpression("bitwise")
{
    public override void WriteData(NetlinkWriter w)
    {
        w.AttributeUInt32BigEndian(1, Register1);
        w.AttributeUInt32BigEndian(2, Register1);
        w.AttributeUInt32BigEndian(3, (uint)Mask.Length);
        WriteValue(w, 4, Mask);
        WriteValue(w, 5, new byte[Mask.Length]);
    }
}

internal enum MetaKey : uint { OutputInterfaceName = 7, Layer4Protocol = 16 }

/// <summary>`meta load KEY => reg 1`.</summary>
internal sealed record MetaLoad(MetaKey Key) : NftExpression("meta")
{
    public override void WriteData(NetlinkWriter w)
    {
        w.AttributeUInt32BigEndian(2, (uint)Key);
        w.AttributeUInt32BigEndian(1, Register1);
    }
}

/// <summary>`fib daddr type => reg 1`: the route type of the destination address (RTN_LOCAL = 2 for
/// an address of this host), compared in host order.</summary>
internal sealed record FibDestinationType() : NftExpression("fib")
{
    const uint NFTA_FIB_F_DADDR = 2, NFT_FIB_RESULT_ADDRTYPE = 3;
    public const uint RTN_LOCAL = 2;

    public override void WriteData(NetlinkWriter w)
    {
        w.AttributeUInt32BigEndian(3, NFTA_FIB_F_DADDR);
        w.AttributeUInt32BigEndian(2, NFT_FIB_RESULT_ADDRTYPE);
        w.AttributeUInt32BigEndian(1, Register1);
    }
}

/// <summary>`immediate reg REGISTER VALUE`.</summary>
internal sealed record Immediate(uint Register, byte[] Value) : NftExpression("immediate")
{
    public override void WriteData(NetlinkWriter w)
    {
        w.AttributeUInt32BigEndian(1, Register);
        WriteValue(w, 2, Value);
    }
}

/// <summary>`nat dnat ip addr_min reg 1 proto_min reg 2 flags 0x2` (NF_NAT_RANGE_PROTO_SPECIFIED).</summary>
internal sealed record DestinationNat() : NftExpression("nat")
{
    const uint NFT_NAT_DNAT = 1, NFPROTO_IPV4 = 2, NF_NAT_RANGE_PROTO_SPECIFIED = 2;

    public override void WriteData(NetlinkWriter w)
    {
        w.AttributeUInt32BigEndian(1, NFT_NAT_DNAT);
        w.AttributeUInt32BigEndian(2, NFPROTO_IPV4);
        w.AttributeUInt32BigEndian(3, Register1);
        w.AttributeUInt32BigEndian(5, Register2);
        w.AttributeUInt32BigEndian(7, NF_NAT_RANGE_PROTO_SPECIFIED);
    }
}

/// <summary>`masq`: source NAT to the address of the outgoing interface.</summary>
internal sealed record Masquerade() : NftExpression("masq")
{
    public override void WriteData(NetlinkWriter w) { }
}
