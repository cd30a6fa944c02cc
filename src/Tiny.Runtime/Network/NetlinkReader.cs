using System.Buffers.Binary;
using System.Text;

namespace Tiny.Runtime.Network;

/// <summary>The header of one received netlink message and where its payload lies in the datagram.</summary>
internal readonly record struct NetlinkMessage(ushort Type, ushort Flags, uint Sequence, int Offset, int Length)
{
    public const ushort NLMSG_NOOP = 1, NLMSG_ERROR = 2, NLMSG_DONE = 3;

    /// <summary>Splits a received datagram into messages (netlink(7): NLMSG_NEXT).</summary>
    public static List<NetlinkMessage> Split(ReadOnlySpan<byte> datagram)
    {
        var messages = new List<NetlinkMessage>();
        var offset = 0;
        while (offset + 16 <= datagram.Length)
        {
            var length = (int)BinaryPrimitives.ReadUInt32LittleEndian(datagram[offset..]);
            if (length < 16 || offset + length > datagram.Length) break;
            messages.Add(new(BinaryPrimitives.ReadUInt16LittleEndian(datagram[(offset + 4)..]),
                BinaryPrimitives.ReadUInt16LittleEndian(datagram[(offset + 6)..]),
                BinaryPrimitives.ReadUInt32LittleEndian(datagram[(offset + 8)..]),
                offset + 16, length - 16));
            offset += (length + 3) & ~3;
        }
        return messages;
    }
}

/// <summary>Walks the attributes of a payload (struct nlattr), ignoring NLA_F_NESTED/NLA_F_NET_BYTEORDER.</summary>
internal ref struct NetlinkAttributes(ReadOnlySpan<byte> attributes)
{
    ReadOnlySpan<byte> rest = attributes;

    public ushort Type { get; private set; }
    public ReadOnlySpan<byte> Value { get; private set; }

    public bool MoveNext()
    {
        if (rest.Length < 4) return false;
        var length = BinaryPrimitives.ReadUInt16LittleEndian(rest);
        if (length < 4 || length > rest.Length) return false;
        Type = (ushort)(BinaryPrimitives.ReadUInt16LittleEndian(rest[2..]) & 0x3fff);
        Value = rest[4..length];
        rest = rest[Math.Min(rest.Length, (length + 3) & ~3)..];
        return true;
    }

    public readonly string ValueString => Encoding.UTF8.GetString(Value.IndexOf((byte)0) is var nul and >= 0 ? Value[..nul] : Value);
    public readonly uint ValueUInt32 => BinaryPrimitives.ReadUInt32LittleEndian(Value);
}
