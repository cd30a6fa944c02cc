using System.Globalization;
using System.Net;

namespace Tiny.Runtime.Network;

public enum PortProtocol { Tcp, Udp }

/// <summary>One <c>-p [HOSTIP:]HOSTPORT:PORT[/tcp|udp]</c>: DNAT from HostPort (on HostIp, or on every
/// local address when null) to ContainerPort.</summary>
public sealed record PortMapping(IPAddress? HostIp, int HostPort, int ContainerPort, PortProtocol Protocol)
{
    public static PortMapping Parse(string text)
    {
        var spec = text;
        var protocol = PortProtocol.Tcp;
        var slash = spec.LastIndexOf('/');
        if (slash >= 0)
        {
            protocol = spec[(slash + 1)..] switch
            {
                "tcp" => PortProtocol.Tcp,
                "udp" => PortProtocol.Udp,
                _ => throw Invalid(text, "the protocol must be tcp or udp"),
            };
            spec = spec[..slash];
        }
        var parts = spec.Split(':');
        IPAddress? hostIp = null;
        if (parts.Length == 3)
        {
            if (!Ipv4Subnet.TryParseAddress(parts[0], out var address)) throw Invalid(text, $"{parts[0]} is not an IPv4 address");
            hostIp = address.Equals(IPAddress.Any) ? null : address;
        }
        else if (parts.Length != 2) throw Invalid(text, "want [HOSTIP:]HOSTPORT:PORT[/tcp|udp]");
        return new(hostIp, Port(parts[^2], text), Port(parts[^1], text), protocol);
    }

    /// <summary>True when both cannot be published at once: same protocol and host port on
    /// addresses that meet (all local addresses meets every address).</summary>
    public bool ConflictsWith(PortMapping other) =>
        Protocol == other.Protocol && HostPort == other.HostPort
        && (HostIp is null || other.HostIp is null || HostIp.Equals(other.HostIp));

    public override string ToString() =>
        $"{(HostIp is null ? "" : HostIp + ":")}{HostPort}:{ContainerPort}/{(Protocol == PortProtocol.Tcp ? "tcp" : "udp")}";

    static int Port(string text, string spec) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var port) && port is >= 1 and <= 65535
            ? port
            : throw Invalid(spec, $"{(text.Length == 0 ? "empty port" : text)} is not a port (1-65535)");

    static ContainerError Invalid(string text, string why) => new($"invalid publish {text}: {why}");
}
