using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace Tiny.Runtime.Network;

/// <summary>An IPv4 prefix, kept as its network address (host order) and length.</summary>
public readonly record struct Ipv4Subnet(uint Network, int PrefixLength)
{
    /// <summary>The private /16s a new bridge picks from, in order (podman's default first).</summary>
    public static IReadOnlyList<Ipv4Subnet> Candidates { get; } =
        [.. new[] { "10.88.0.0/16", "10.89.0.0/16", "10.90.0.0/16", "10.91.0.0/16", "172.30.0.0/16", "172.31.0.0/16", "192.168.0.0/16" }
            .Select(c => Parse(c, "subnet"))];

    public uint Mask => PrefixLength == 0 ? 0 : uint.MaxValue << (32 - PrefixLength);
    public uint Broadcast => Network | ~Mask;
    public IPAddress Gateway => ToAddress(Network + 1);

    /// <summary>Addresses a container may get: the gateway (.1), network and broadcast excluded.</summary>
    public IEnumerable<IPAddress> ContainerAddresses()
    {
        for (var host = Network + 2; host < Broadcast; host++) yield return ToAddress(host);
    }

    public bool Contains(IPAddress address) => (ToUInt32(address) & Mask) == Network;
    public bool Overlaps(Ipv4Subnet other) =>
        (Network & other.Mask & Mask) == (other.Network & Mask & other.Mask);

    public static Ipv4Subnet Containing(IPAddress address, int prefixLength)
    {
        var mask = prefixLength == 0 ? 0 : uint.MaxValue << (32 - prefixLength);
        return new(ToUInt32(address) & mask, prefixLength);
    }

    /// <summary>Parses "A.B.C.D/N" for a bridge: N from 8 to 30, host bits zero. <paramref name="option"/>
    /// names the value in the error.</summary>
    public static Ipv4Subnet Parse(string text, string option)
    {
        var slash = text.IndexOf('/');
        if (slash < 0 || !TryParseAddress(text[..slash], out var address)
            || !int.TryParse(text.AsSpan(slash + 1), System.Globalization.NumberStyles.None, null, out var length)
            || length is < 8 or > 30)
            throw new ContainerError($"invalid {option} {text}: want an IPv4 CIDR such as 10.88.0.0/16 (prefix 8 to 30)");
        var subnet = Containing(address, length);
        if (subnet.Network != ToUInt32(address))
            throw new ContainerError($"invalid {option} {text}: host bits set (did you mean {subnet}?)");
        return subnet;
    }

    /// <summary>Strict dotted-quad IPv4 (IPAddress.TryParse also takes "10.1" and hex forms).</summary>
    public static bool TryParseAddress(string text, out IPAddress address)
    {
        address = IPAddress.None;
        var parts = text.Split('.');
        if (parts.Length != 4 || parts.Any(p => p.Length is 0 or > 3 || !p.All(char.IsAsciiDigit) || int.Parse(p) > 255))
            return false;
        address = IPAddress.Parse(text);
        return address.AddressFamily == AddressFamily.InterNetwork;
    }

    public static uint ToUInt32(IPAddress address) => BinaryPrimitives.ReadUInt32BigEndian(address.GetAddressBytes());

    public static IPAddress ToAddress(uint value)
    {
        var bytes = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, value);
        return new IPAddress(bytes);
    }

    public override string ToString() => $"{ToAddress(Network)}/{PrefixLength}";
}
