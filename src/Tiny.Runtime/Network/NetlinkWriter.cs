using System.Buffers.Binary;
using System.Text;

namespace Tiny.Runtime.Network;

/// <summary>
/// Builds a buffer of netlink messages (netlink(7)): a 16-byte nlmsghdr, the family's fixed header,
/// then attributes (struct nlattr: u16 length, u16 type, payload padded to 4 bytes). Lengths are
/// counted as libmnl counts them: a message's and a nest's include the padding of their last
/// attribute. Integers are host order (little-endian) unless the method says big-endian.
/// </summary>
internal sealed class NetlinkWriter
{
    public const ushort NLM_F_REQUEST = 0x1, NLM_F_ACK = 0x4, NLM_F_ECHO = 0x8, NLM_F_DUMP = 0x300,
        NLM_F_EXCL = 0x200, NLM_F_CREATE = 0x400, NLM_F_APPEND = 0x800;
    /// <summary>Marks an attribute whose payload is attributes (nf_tables sets it; rtnetlink does not).</summary>
    public const ushort NLA_F_NESTED = 0x8000;

    byte[] buffer = new byte[1024];
    int length, messageStart = -1;

    public ReadOnlySpan<byte> Written => buffer.AsSpan(0, length);

    readonly List<(uint Sequence, string What)> requests = [];

    /// <summary>Starts a message; <paramref name="what"/> names the request in error messages.</summary>
    public void BeginMessage(ushort type, ushort flags, uint sequence, string what)
    {
        if (messageStart >= 0) throw new InvalidOperationException("netlink message not ended");
        messageStart = length;
        UInt32(0);
        UInt16(type);
        UInt16(flags);
        UInt32(sequence);
        UInt32(0);
        requests.Add((sequence, what));
    }

    /// <summary>What the message with <paramref name="sequence"/> asked for.</summary>
    public string Describe(uint sequence) =>
        requests.FindLast(r => r.Sequence == sequence).What ?? $"request {sequence}";

    public void EndMessage()
    {
        BinaryPrimitives.WriteUInt32LittleEndian(buffer.AsSpan(messageStart), (uint)(length - messageStart));
        messageStart = -1;
    }

    public void UInt8(byte value) => Reserve(1)[0] = value;
    public void UInt16(ushort value) => BinaryPrimitives.WriteUInt16LittleEndian(Reserve(2), value);
    public void UInt32(uint value) => BinaryPrimitives.WriteUInt32LittleEndian(Reserve(4), value);
    public void Bytes(ReadOnlySpan<byte> value) => value.CopyTo(Reserve(value.Length));

    public void Attribute(ushort type, ReadOnlySpan<byte> payload)
    {
        UInt16((ushort)(4 + payload.Length));
        UInt16(type);
        Bytes(payload);
        Pad();
    }

    public void AttributeUInt32(ushort type, uint value)
    {
        Span<byte> payload = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(payload, value);
        Attribute(type, payload);
    }

    public void AttributeUInt32BigEndian(ushort type, uint value)
    {
        Span<byte> payload = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(payload, value);
        Attribute(type, payload);
    }

    public void AttributeUInt64BigEndian(ushort type, ulong value)
    {
        Span<byte> payload = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(payload, value);
        Attribute(type, payload);
    }

    /// <summary>A NUL-terminated string attribute.</summary>
    public void AttributeString(ushort type, string value)
    {
        Span<byte> payload = stackalloc byte[Encoding.UTF8.GetByteCount(value) + 1];
        Encoding.UTF8.GetBytes(value, payload);
        payload[^1] = 0;
        Attribute(type, payload);
    }

    /// <summary>Starts an attribute whose payload follows; returns the token for <see cref="EndNested"/>.</summary>
    public int BeginNested(ushort type)
    {
        var start = length;
        UInt16(0);
        UInt16(type);
        return start;
    }

    public void EndNested(int start) =>
        BinaryPrimitives.WriteUInt16LittleEndian(buffer.AsSpan(start), (ushort)(length - start));

    void Pad()
    {
        var padding = (4 - (length & 3)) & 3;
        Reserve(padding).Clear();
    }

    Span<byte> Reserve(int count)
    {
        if (length + count > buffer.Length) Array.Resize(ref buffer, Math.Max(buffer.Length * 2, length + count));
        var span = buffer.AsSpan(length, count);
        length += count;
        return span;
    }
}
